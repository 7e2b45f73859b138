"""Payload decoders for the details pane: bytes in, plain text out (never markup).

``decode_payload(payload, "auto")`` picks JSON (pretty), UTF-8 text, or a hex dump; CBOR,
MessagePack and schema-less Protobuf are chosen by the user or by an MQTT 5 content type, and
Sparkplug B only by the user (by topic, ``core/decoding/rules.py`` does it for ``spBv1.0/``).
Every decoder returns text that a plain-text widget shows as is; the structured ones also
return the decoded ``value`` (for JSONL and exports).
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from typing import Any

import cbor2
import msgpack

from eventscope.core.decoding.nesting import TooDeepError, check_value_nesting, loads_json
from eventscope.core.decoding.protobuf_raw import decode_raw, raw_text
from eventscope.core.payload_text import decode_utf8
from eventscope.core.sparkplug.payload import parse_payload, payload_to_dict, timestamp_note

DECODERS = ("auto", "json", "text", "hex", "base64", "cbor", "msgpack", "protobuf-raw", "sparkplug")
DECODER_LABELS = {"auto": "Auto", "json": "JSON", "text": "UTF-8 text", "hex": "Hex dump",
                  "base64": "Base64", "cbor": "CBOR", "msgpack": "MessagePack", "protobuf-raw": "Protobuf (raw fields)",
                  "sparkplug": "Sparkplug B", "protobuf": "Protobuf"}
HEX_DUMP_LIMIT = 64 * 1024  # bytes shown in a hex dump; a note says how many more there are
TEXT_STRING_LIMIT = 4096  # characters of one decoded string shown as text; the value keeps them all

PROTOBUF_CONTENT_TYPES = ("application/x-protobuf", "application/protobuf", "application/vnd.google.protobuf",
                          "application/x-google-protobuf", "application/proto")
_CONTENT_TYPES = {"application/json": "json", "application/cbor": "cbor", "application/msgpack": "msgpack",
                  "application/x-msgpack": "msgpack", "application/vnd.msgpack": "msgpack",
                  **{name: "protobuf-raw" for name in PROTOBUF_CONTENT_TYPES}}


@dataclass(frozen=True, slots=True)
class DecodedPayload:
    """``text`` to show; ``decoder`` that produced it; ``error`` if the chosen decoder failed (then the raw bytes).

    ``value`` is the decoded value of a structured decoder (None for text, hex, base64 and on
    error); ``notes`` are warnings about a decode that worked (unknown alias, seq gap, unknown
    fields); ``rule_description`` says what chose the decoder ("rule 3: a/+ → protobuf x.Y").
    """

    text: str
    decoder: str
    error: str = ""
    value: Any = None
    notes: tuple[str, ...] = ()
    rule_description: str = ""


def detect(payload: bytes, content_type: str | None = None) -> str:
    """The decoder "auto" would use."""
    hinted = _CONTENT_TYPES.get((content_type or "").split(";")[0].strip().lower())
    if hinted:
        return hinted
    text = decode_utf8(payload)
    if text is None:
        return "hex"
    stripped = text.strip()
    if stripped[:1] in ("{", "[") and _loads_json(stripped) is not None:
        return "json"
    return "text"


def decode_payload(payload: bytes, decoder: str = "auto", content_type: str | None = None) -> DecodedPayload:
    if decoder not in DECODERS:
        raise ValueError(f"unknown decoder {decoder!r}; choose one of {', '.join(DECODERS)}")
    chosen = detect(payload, content_type) if decoder == "auto" else decoder
    try:
        if chosen in _STRUCTURED:
            value, text, notes = _STRUCTURED[chosen](payload)
            return DecodedPayload(text, chosen, value=value, notes=notes)
        return DecodedPayload(_DECODE[chosen](payload), chosen)
    except Exception as exc:  # a wrong choice of decoder is expected: say why, show the bytes
        return DecodedPayload(hex_dump(payload), "hex", f"Not valid {DECODER_LABELS[chosen]}: {exc}")


def raw_view(payload: bytes) -> str:
    """The payload as it came: its text if it is text, else a hex dump (shown beside a decode error)."""
    text = decode_utf8(payload)
    return hex_dump(payload) if text is None else text


def failed(payload: bytes, error: str, rule_description: str = "") -> DecodedPayload:
    """A decode that did not work: the raw payload and why, never an empty ``{}``."""
    return DecodedPayload(raw_view(payload), "hex" if decode_utf8(payload) is None else "text", error,
                          rule_description=rule_description)


def display_text(value: Any) -> str:
    """A decoded value as indented JSON text, with very long strings shortened (the value keeps them)."""
    return json.dumps(_shortened(value), indent=2, ensure_ascii=False, default=json_default)


def _shortened(value: Any) -> Any:
    if isinstance(value, str) and len(value) > TEXT_STRING_LIMIT:
        return f"{value[:TEXT_STRING_LIMIT]}… ({len(value)} chars)"
    if isinstance(value, (bytes, bytearray)) and len(value) > TEXT_STRING_LIMIT // 2:
        return {"$bytes": bytes(value[:TEXT_STRING_LIMIT // 2]).hex() + "…", "size": len(value)}
    if isinstance(value, dict):
        return {key: _shortened(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shortened(item) for item in value]
    return value


def _loads_json(text: str) -> Any | None:
    try:
        return loads_json(text)
    except ValueError:  # not JSON, or nested too deep to walk
        return None


def _text(payload: bytes) -> str:
    return payload.decode("utf-8")


def _base64(payload: bytes) -> str:
    return base64.b64encode(payload).decode("ascii")


def _structured(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=json_default)


def json_default(value: Any) -> Any:
    """``json.dumps`` ``default=`` for decoded values: bytes as {"$bytes": hex}, CBOR tags, else repr."""
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": bytes(value).hex()}
    if isinstance(value, cbor2.CBORTag):
        return {"$tag": value.tag, "value": value.value}
    return repr(value)


def hex_dump(payload: bytes, limit: int = HEX_DUMP_LIMIT) -> str:
    """Offset, 16 bytes in hex, and their printable ASCII, one line per 16 bytes."""
    shown = payload[:limit]
    lines = []
    for offset in range(0, len(shown), 16):
        chunk = shown[offset:offset + 16]
        hex_part = " ".join(f"{b:02x}" for b in chunk)
        ascii_part = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}  {hex_part:<47}  {ascii_part}")
    if len(payload) > limit:
        lines.append(f"… {len(payload) - limit} more bytes not shown")
    return "\n".join(lines)


def _structured_json(payload: bytes) -> tuple[Any, str, tuple[str, ...]]:
    value = loads_json(payload.decode("utf-8"))
    return value, json.dumps(value, indent=2, ensure_ascii=False), ()


def _structured_cbor(payload: bytes) -> tuple[Any, str, tuple[str, ...]]:
    value = cbor2.loads(payload)
    check_value_nesting(value)
    return value, _structured(value), ()


def _structured_msgpack(payload: bytes) -> tuple[Any, str, tuple[str, ...]]:
    try:
        value = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    except msgpack.StackError as exc:  # says nothing by itself
        raise TooDeepError("nested too deep to unpack") from exc
    check_value_nesting(value)
    return value, _structured(value), ()


def _structured_protobuf_raw(payload: bytes) -> tuple[Any, str, tuple[str, ...]]:
    message = decode_raw(payload)
    return message.fields, raw_text(message.fields), message.notes


def _structured_sparkplug(payload: bytes) -> tuple[Any, str, tuple[str, ...]]:
    """The payload alone: no alias names (those need the session state, see ``core/decoding/rules.py``)."""
    value = payload_to_dict(parse_payload(payload))
    stamp = timestamp_note(value)
    return value, display_text(value), (stamp,) if stamp else ()


_DECODE = {"text": _text, "hex": hex_dump, "base64": _base64}
_STRUCTURED = {"json": _structured_json, "cbor": _structured_cbor, "msgpack": _structured_msgpack,
               "protobuf-raw": _structured_protobuf_raw, "sparkplug": _structured_sparkplug}


# ----- numbers for the plot -----------------------------------------------------------
def numeric_value(payload: bytes, field: str = "") -> float | None:
    """The payload as a number, or the number at dotted JSON path ``field`` ("a.b.0.c")."""
    text = decode_utf8(payload[:4096]) if len(payload) <= 4096 else None
    if text is None:
        return None
    if not field:
        return _as_float(text.strip())
    value = _loads_json(text)
    for part in field.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return _as_float(value)


def numeric_fields(payload: bytes) -> list[str]:
    """Dotted paths of the numbers in a JSON object payload (for choosing what to plot)."""
    text = decode_utf8(payload[:65536]) if len(payload) <= 65536 else None
    value = _loads_json(text) if text else None
    if not isinstance(value, (dict, list)):
        return []
    out: list[str] = []
    stack: list[tuple[Any, str]] = [(value, "")]  # a stack, not recursion: the payload sets the depth
    while stack and len(out) < 200:
        item, path = stack.pop()
        if isinstance(item, dict):
            children = [(sub, f"{path}.{key}" if path else str(key)) for key, sub in item.items()]
        elif isinstance(item, list):
            children = [(sub, f"{path}.{i}" if path else str(i)) for i, sub in enumerate(item[:50])]
        else:
            if _as_float(item) is not None and not isinstance(item, str):
                out.append(path)
            continue
        stack.extend(reversed(children))  # document order
    return out


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
