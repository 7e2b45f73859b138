"""A schema-less view of any Protobuf payload, like ``protoc --decode_raw``.

``decode_raw(payload)`` returns the fields as plain values (field number, wire type, value);
``raw_text(fields)`` renders them the way ``protoc --decode_raw`` does. A length-delimited field
is shown as a nested message when its bytes parse as one, else as text or bytes. Nesting and
the field count are bounded, so a hostile or huge payload gives a note, never a crash.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

from eventscope.core.payload_text import decode_utf8

MAX_DEPTH = 64
MAX_FIELDS = 10_000
MAX_STEPS = 200_000  # fields read, failed guesses at nested messages included: bounds the work per payload
TEXT_VALUE_LIMIT = 256  # characters of one string or bytes value shown in the text form

WIRE_TYPES = {0: "varint", 1: "i64", 2: "len", 3: "group", 5: "i32"}


class RawDecodeError(ValueError):
    """The bytes are not Protobuf wire format; the message says where."""


@dataclass
class _Budget:
    fields_left: int = MAX_FIELDS
    steps: int = 0
    depth_capped: bool = False


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise RawDecodeError(f"truncated varint at byte {pos}")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise RawDecodeError(f"varint longer than 10 bytes at byte {pos}")


def _fields(data: bytes, depth: int, budget: _Budget, end_group: int | None = None) -> tuple[list[dict], int]:
    """Parse fields until the end of ``data`` (or the END_GROUP of ``end_group``). Returns (fields, end)."""
    out: list[dict] = []
    pos = 0
    while pos < len(data):
        if budget.fields_left <= 0:
            raise _Exhausted(out, pos)
        start = pos
        budget.steps += 1
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise RawDecodeError(f"field number 0 at byte {start}")
        if wire == 4:
            if end_group != number:
                raise RawDecodeError(f"unexpected end of group {number} at byte {start}")
            return out, pos
        budget.fields_left -= 1
        if wire == 0:
            value, pos = _varint(data, pos)
            out.append({"field": number, "wire_type": "varint", "value": value})
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > len(data):
                raise RawDecodeError(f"truncated {WIRE_TYPES[wire]} field {number} at byte {start}")
            chunk = data[pos:pos + size]
            pos += size
            integer = int.from_bytes(chunk, "little")
            real = struct.unpack("<d" if wire == 1 else "<f", chunk)[0]
            out.append({"field": number, "wire_type": WIRE_TYPES[wire], "value": integer, "as_float": real})
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise RawDecodeError(f"field {number} at byte {start} says {size} B but {len(data) - pos} B are left")
            out.append({"field": number, "wire_type": "len", **_length_delimited(data[pos:pos + size], depth, budget)})
            pos += size
        elif wire == 3:
            if depth >= MAX_DEPTH:
                raise RawDecodeError(f"groups nested deeper than {MAX_DEPTH} at byte {start}")
            inner, used = _fields(data[pos:], depth + 1, budget, end_group=number)
            out.append({"field": number, "wire_type": "group", "message": inner})
            pos += used
        else:
            raise RawDecodeError(f"invalid wire type {wire} at byte {start}")
    if end_group is not None:
        raise RawDecodeError(f"group {end_group} is not closed")
    return out, pos


class _Exhausted(Exception):
    def __init__(self, fields: list[dict], pos: int) -> None:
        self.fields, self.pos = fields, pos


def _length_delimited(chunk: bytes, depth: int, budget: _Budget) -> dict:
    """A nested message if the bytes parse as one, else text, else bytes (as protoc guesses)."""
    if chunk and depth < MAX_DEPTH and budget.steps < MAX_STEPS:
        saved = budget.fields_left
        try:
            inner, _ = _fields(chunk, depth + 1, budget)
            return {"message": inner}
        except RawDecodeError:
            budget.fields_left = saved
    elif chunk:
        budget.depth_capped = True
    text = decode_utf8(chunk)
    if text is not None:
        return {"value": text}
    return {"bytes": chunk.hex()}


@dataclass(frozen=True, slots=True)
class RawMessage:
    fields: list[dict]
    notes: tuple[str, ...] = ()


def decode_raw(payload: bytes) -> RawMessage:
    """Every field of ``payload`` without a schema. Raises ``RawDecodeError`` if it is not wire format."""
    budget = _Budget()
    notes: list[str] = []
    try:
        fields, _ = _fields(payload, 0, budget)
    except _Exhausted as stop:
        fields = stop.fields
        notes.append(f"stopped after {MAX_FIELDS} fields: the last {len(payload) - stop.pos} B are not shown")
    except RawDecodeError as exc:
        raise RawDecodeError(f"Not Protobuf wire format ({len(payload)} B): {exc}") from None
    if budget.depth_capped:
        notes.append(f"messages nested deeper than {MAX_DEPTH} levels are shown as bytes")
    return RawMessage(fields, tuple(notes))


def _short(text: str) -> str:
    return text if len(text) <= TEXT_VALUE_LIMIT else f"{text[:TEXT_VALUE_LIMIT]}… ({len(text)} chars)"


def raw_text(fields: list[dict], indent: str = "") -> str:
    """``protoc --decode_raw`` style: ``1: 150``, ``2 { ... }``, ``3: "text"``, fixed as hex."""
    lines: list[str] = []
    for item in fields:
        number = item["field"]
        if "message" in item:
            lines.append(f"{indent}{number} {{")
            inner = raw_text(item["message"], indent + "  ")
            if inner:
                lines.append(inner)
            lines.append(f"{indent}}}")
        elif "bytes" in item:
            lines.append(f'{indent}{number}: <{_short(item["bytes"])}> ({len(item["bytes"]) // 2} B)')
        elif item["wire_type"] == "len":
            lines.append(f"{indent}{number}: {_short(json.dumps(item['value'], ensure_ascii=False))}")
        elif item["wire_type"] in ("i64", "i32"):
            width = 16 if item["wire_type"] == "i64" else 8
            lines.append(f"{indent}{number}: 0x{item['value']:0{width}x} ({item['as_float']!r})")
        else:
            lines.append(f"{indent}{number}: {item['value']}")
    return "\n".join(lines)
