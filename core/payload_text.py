"""Payload bytes as text for people and for export. Text is always plain, never markup."""

from __future__ import annotations

import base64
import re

PREVIEW_CHARS = 200
# C0 controls (but tab and line breaks), DEL and C1 controls: bytes that can drive a terminal.
_CONTROLS_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_EVERY_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_JSON_RAW_CONTROLS = re.compile("[\x7f-\x9f]")  # json.dumps escapes C0 itself


def decode_utf8(payload: bytes) -> str | None:
    """The payload as text, or None if it is not valid UTF-8 or holds control characters (C0, DEL, C1)."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if _CONTROLS_IN_TEXT.search(text, 0, 4096):
        return None
    return text


def escape_controls(text: str) -> str:
    """``text`` with every control character (C0, DEL, C1) written as ``\\xNN``, safe to print on a terminal."""
    return _EVERY_CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def terminal_safe_json(text: str) -> str:
    """JSON text from ``json.dumps(..., ensure_ascii=False)`` with DEL and C1 controls written as
    ``\\u`` escapes, which JSON leaves raw: the same JSON value, safe to print on a terminal."""
    return _JSON_RAW_CONTROLS.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def encode_for_export(payload: bytes) -> tuple[str, str]:
    """(payload, encoding): UTF-8 text as is, anything else as base64."""
    text = decode_utf8(payload)
    if text is not None:
        return text, "utf-8"
    return base64.b64encode(payload).decode("ascii"), "base64"


def decode_from_export(text: str, encoding: str) -> bytes:
    return base64.b64decode(text) if encoding == "base64" else text.encode("utf-8")


def preview(payload: bytes, limit: int = PREVIEW_CHARS) -> str:
    """A one-line preview: text with line breaks folded, or a hex start for binary."""
    text = decode_utf8(payload[: limit * 4])
    if text is None:
        head = payload[: limit // 3].hex(" ")
        return f"[{len(payload)} B binary] {head}" + ("…" if len(payload) > limit // 3 else "")
    one_line = " ".join(text.split())
    return one_line[:limit] + ("…" if len(one_line) > limit or len(payload) > limit * 4 else "")
