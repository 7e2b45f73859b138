"""Payload bytes as text for people and for export. Text is always plain, never markup."""

from __future__ import annotations

import base64

PREVIEW_CHARS = 200


def decode_utf8(payload: bytes) -> str | None:
    """The payload as text, or None if it is not valid UTF-8 or holds control bytes."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any(ord(c) < 32 and c not in "\t\r\n" for c in text[:4096]):
        return None
    return text


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
