"""Payload decoders: auto-detection, each explicit decoder, failures that fall back to hex, numbers for plots."""

from __future__ import annotations

import base64
import json

import cbor2
import msgpack
import pytest

from eventscope.core.decoding.decoders import decode_payload, detect, hex_dump, numeric_fields, numeric_value


@pytest.mark.parametrize("payload, expected", [
    (b'{"a": 1}', "json"),
    (b"[1, 2]", "json"),
    (b"hello world", "text"),
    (b"<b>x</b><img src=x>", "text"),
    (b"{not json", "text"),
    (b"\xff\xfe\x00", "hex"),
    (bytes([0, 1, 2]), "hex"),
    (b"", "text"),
])
def test_auto_detects_json_text_or_binary(payload, expected):
    assert detect(payload) == expected
    assert decode_payload(payload).decoder == expected


def test_json_is_pretty_printed():
    decoded = decode_payload(b'{"temp":21.5,"tags":["a"]}')
    assert json.loads(decoded.text) == {"temp": 21.5, "tags": ["a"]}
    assert decoded.text.splitlines()[1] == '  "temp": 21.5,'


def test_html_looking_text_stays_literal():
    assert decode_payload(b"<b>x</b><img src=x>").text == "<b>x</b><img src=x>"


def test_hex_dump_has_offsets_hex_and_ascii_and_says_what_it_cut():
    dump = hex_dump(b"AB\x00\xff" * 5)
    assert dump.splitlines()[0] == "00000000  41 42 00 ff 41 42 00 ff 41 42 00 ff 41 42 00 ff  AB..AB..AB..AB.."
    assert dump.splitlines()[1].startswith("00000010  41 42 00 ff")
    assert hex_dump(b"x" * 100, limit=32).splitlines()[-1] == "… 68 more bytes not shown"


def test_explicit_cbor_msgpack_and_base64():
    value = {"id": 7, "raw": b"\x01\x02", "ok": True}
    assert json.loads(decode_payload(cbor2.dumps(value), "cbor").text) == {"id": 7, "raw": {"$bytes": "0102"}, "ok": True}
    assert json.loads(decode_payload(msgpack.packb(value), "msgpack").text) == {"id": 7, "raw": {"$bytes": "0102"},
                                                                                 "ok": True}
    assert decode_payload(b"\x00\xff", "base64").text == base64.b64encode(b"\x00\xff").decode()


def test_content_type_hint_selects_the_decoder():
    assert detect(cbor2.dumps([1, 2]), "application/cbor") == "cbor"
    assert decode_payload(msgpack.packb([1, 2]), "auto", "application/msgpack").text.split() == ["[", "1,", "2", "]"]


def test_wrong_decoder_falls_back_to_hex_and_says_why():
    decoded = decode_payload(b"\xff\xfe", "json")
    assert decoded.decoder == "hex" and decoded.error.startswith("Not valid JSON")
    assert decoded.text.startswith("00000000  ff fe")
    with pytest.raises(ValueError, match="unknown decoder"):
        decode_payload(b"", "yaml")


def test_numeric_values_and_fields():
    assert numeric_value(b" 21.5 ") == 21.5
    assert numeric_value(b"abc") is None
    assert numeric_value(b"nan") is None
    payload = b'{"t": 20, "nested": {"h": 51.5}, "list": [1, {"x": 2}], "flag": true, "s": "3"}'
    assert numeric_fields(payload) == ["t", "nested.h", "list.0", "list.1.x"]
    assert numeric_value(payload, "nested.h") == 51.5
    assert numeric_value(payload, "list.1.x") == 2.0
    assert numeric_value(payload, "missing") is None
    assert numeric_fields(b"42") == []
