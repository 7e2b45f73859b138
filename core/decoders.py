"""Payload decoders for the details pane: bytes in, plain text out (never markup).

``decode_payload(payload, "auto")`` picks JSON (pretty), UTF-8 text, or a hex dump; CBOR and
MessagePack are chosen by the user or by an MQTT 5 content type. Every decoder returns text
that a plain-text widget shows as is.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from typing import Any

import cbor2
import msgpack

from core.payload_text import decode_utf8

DECODERS = ("auto", "json", "text", "hex", "base64", "cbor", "msgpack")
DECODER_LABELS = {"auto": "Auto", "json": "JSON", "text": "UTF-8 text", "hex": "Hex dump",
                  "base64": "Base64", "cbor": "CBOR", "msgpack": "MessagePack"}
HEX_DUMP_LIMIT = 64 * 1024  # bytes shown in a hex dump; a note says how many more there are

_CONTENT_TYPES = {"application/json": "json", "application/cbor": "cbor", "application/msgpack": "msgpack",
                  "application/x-msgpack": "msgpack", "application/vnd.msgpack": "msgpack"}


@dataclass(frozen=True, slots=True)
class DecodedPayload:
    """``text`` to show; ``decoder`` that produced it; ``error`` if the chosen decoder failed (then hex)."""

    text: str
    decoder: str
    error: str = ""


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
        return DecodedPayload(_DECODE[chosen](payload), chosen)
    except Exception as exc:  # a wrong choice of decoder is expected: say why, show the bytes
        return DecodedPayload(hex_dump(payload), "hex", f"Not valid {DECODER_LABELS[chosen]}: {exc}")


def _loads_json(text: str) -> Any | None:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _json(payload: bytes) -> str:
    return json.dumps(json.loads(payload.decode("utf-8")), indent=2, ensure_ascii=False)


def _text(payload: bytes) -> str:
    return payload.decode("utf-8")


def _base64(payload: bytes) -> str:
    return base64.b64encode(payload).decode("ascii")


def _structured(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": bytes(value).hex()}
    if isinstance(value, cbor2.CBORTag):
        return {"$tag": value.tag, "value": value.value}
    return repr(value)


def _cbor(payload: bytes) -> str:
    return _structured(cbor2.loads(payload))


def _msgpack(payload: bytes) -> str:
    return _structured(msgpack.unpackb(payload, raw=False, strict_map_key=False))


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


_DECODE = {"json": _json, "text": _text, "hex": hex_dump, "base64": _base64, "cbor": _cbor, "msgpack": _msgpack}


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

    def visit(item: Any, path: str) -> None:
        if len(out) >= 200:
            return
        if isinstance(item, dict):
            for key, sub in item.items():
                visit(sub, f"{path}.{key}" if path else str(key))
        elif isinstance(item, list):
            for i, sub in enumerate(item[:50]):
                visit(sub, f"{path}.{i}" if path else str(i))
        elif _as_float(item) is not None and not isinstance(item, str):
            out.append(path)

    visit(value, "")
    return out


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
