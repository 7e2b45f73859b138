"""Messages printed the way mosquitto_sub and mosquitto_rr print them: the payload alone, ``-v``
(``topic payload``), or a ``-F`` format with mosquitto_sub's specifiers.

Bytes go out as received when stdout is a pipe or a file. On a terminal, control characters in
topics, payloads and properties are written as ``\\xNN`` so a message cannot drive the terminal.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from eventscope.core.payload_text import escape_controls, terminal_safe_json
from eventscope.core.records import MessageRecord

# A field's bytes as they are printed: raw, or with controls escaped for a terminal.
Shown = Callable[[bytes], bytes]


def raw_bytes(data: bytes) -> bytes:
    return data


def terminal_bytes(data: bytes) -> bytes:
    return escape_controls(data.decode("utf-8", "backslashreplace")).encode("utf-8")


def shown_on_stdout() -> Shown:
    """Raw bytes for a pipe or a file, as mosquitto_sub writes them; controls escaped on a terminal."""
    return terminal_bytes if sys.stdout.isatty() else raw_bytes


def message_line(topic: str, payload: bytes, verbose: bool, shown: Shown, newline: bool) -> bytes:
    """One message as mosquitto_sub and mosquitto_rr print it, with ``-v`` or without."""
    return verbose_line(topic, payload, shown, newline) if verbose else payload_line(payload, shown, newline)


def payload_line(payload: bytes, shown: Shown, newline: bool) -> bytes:
    """mosquitto_sub's default output: the payload; an empty payload prints nothing at all."""
    if not payload:
        return b""
    return shown(payload) + (b"\n" if newline else b"")


def verbose_line(topic: str, payload: bytes, shown: Shown, newline: bool) -> bytes:
    """mosquitto_sub's ``-v``: ``topic payload``, or ``topic (null)`` for an empty payload (nothing with ``-N``)."""
    if not payload:
        return shown(topic.encode("utf-8")) + b" (null)\n" if newline else b""
    return shown(topic.encode("utf-8")) + b" " + shown(payload) + (b"\n" if newline else b"")


class FormatError(ValueError):
    """A ``-F`` format that cannot be read: a usage error."""


# The sequences and what they print. Flags, width and precision apply as in mosquitto_sub.
_ZERO_PADDED = set("AEFlmSxX")
_TRUNCATED = set("CIRt")
_ESCAPES = {"\\": b"\\", "0": b"\0", "a": b"\a", "e": b"\x1b", "n": b"\n", "r": b"\r", "t": b"\t", "v": b"\v"}
_PERCENT = re.compile(r"%([-0]*)(\d*)(?:\.(\d+))?(.?)", re.DOTALL)


def _iso_time(received: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(received))


def _json_object(record: MessageRecord, payload_as_json: bool) -> bytes:
    tst = datetime.fromtimestamp(record.received).astimezone().strftime("%Y-%m-%dT%H:%M:%S.%f%z")
    item: dict = {"tst": tst, "topic": record.topic, "qos": record.qos, "retain": int(record.retain),
                  "payloadlen": len(record.payload)}
    if record.qos:
        item["mid"] = record.mid
    if payload_as_json:
        item["payload"] = json.loads(record.payload)  # a ValueError names the topic in the caller
    else:
        try:
            item["payload"] = record.payload.decode("utf-8")
        except UnicodeDecodeError:  # JSON strings carry text only
            item["payload"] = base64.b64encode(record.payload).decode("ascii")
            item["payload_encoding"] = "base64"
    return terminal_safe_json(json.dumps(item, ensure_ascii=False, separators=(",", ":"))).encode("utf-8")


def _optional(value) -> bytes:
    return b"" if value is None else str(value).encode("utf-8")


_FIELDS: dict[str, Callable[[MessageRecord, Shown], bytes]] = {
    "t": lambda r, shown: shown(r.topic.encode("utf-8")),
    "p": lambda r, shown: shown(r.payload),
    "q": lambda r, shown: str(r.qos).encode(),
    "r": lambda r, shown: b"1" if r.retain else b"0",
    "l": lambda r, shown: str(len(r.payload)).encode(),
    "m": lambda r, shown: str(r.mid).encode(),
    "x": lambda r, shown: r.payload.hex().encode(),
    "X": lambda r, shown: r.payload.hex().upper().encode(),
    "I": lambda r, shown: _iso_time(r.received).encode(),
    "U": lambda r, shown: f"{r.received:.9f}".encode(),
    "j": lambda r, shown: _json_object(r, payload_as_json=False),
    "J": lambda r, shown: _json_object(r, payload_as_json=True),
    "A": lambda r, shown: _optional(r.properties.topic_alias),
    "C": lambda r, shown: shown(_optional(r.properties.content_type)),
    "D": lambda r, shown: shown(r.properties.correlation_data or b""),
    "E": lambda r, shown: _optional(r.properties.message_expiry_interval),
    "F": lambda r, shown: _optional(r.properties.payload_format_indicator),
    "R": lambda r, shown: shown(_optional(r.properties.response_topic)),
    "S": lambda r, shown: b",".join(str(i).encode() for i in r.properties.subscription_identifiers),
}
SUPPORTED = "%t %p %q %r %l %m %x %X %I %U %j %J %A %C %D %E %F %R %S %%, @ (strftime) and \\ escapes"


@dataclass(frozen=True)
class _Field:
    name: str
    left: bool
    zero: bool
    width: int
    precision: int | None

    def render(self, record: MessageRecord, shown: Shown) -> bytes:
        value = _FIELDS[self.name](record, shown)
        if self.precision is not None and self.name in _TRUNCATED:
            value = value[:self.precision]
        if len(value) >= self.width:
            return value
        if self.left:
            return value.ljust(self.width)
        return value.rjust(self.width, b"0" if self.zero and self.name in _ZERO_PADDED else b" ")


@dataclass(frozen=True)
class _Time:
    directive: str  # one strftime letter, or N for nanoseconds

    def render(self, record: MessageRecord, shown: Shown) -> bytes:
        if self.directive == "N":
            return f"{round(record.received % 1 * 1e9):09d}".encode()
        return time.strftime(f"%{self.directive}", time.localtime(record.received)).encode("utf-8")


class MessageFormat:
    """A ``-F`` format string, read once (an unknown sequence is a ``FormatError``), rendered per message."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self._parts: list[bytes | _Field | _Time] = []
        index = 0
        while index < len(spec):
            char = spec[index]
            if char == "%":
                match = _PERCENT.match(spec, index)
                assert match is not None  # every part after the "%" is optional: it always matches
                flags, width, precision, name = match.groups()
                if name == "%":
                    self._parts.append(b"%")
                elif name in _FIELDS:
                    self._parts.append(_Field(name, "-" in flags, "0" in flags, int(width or 0),
                                              None if precision is None else int(precision)))
                else:
                    shown = f"%{name}" if name else "a lone % at the end"
                    raise FormatError(f"-F: {shown} is not supported (supported: {SUPPORTED})")
                index = match.end()
            elif char in "@\\":
                if index + 1 == len(spec):
                    raise FormatError(f"-F: a lone {char} at the end (write {char}{char} for the character)")
                following = spec[index + 1]
                if char == "@":
                    self._parts.append(b"@" if following == "@" else _Time(following))
                elif following in _ESCAPES:
                    self._parts.append(_ESCAPES[following])
                else:
                    raise FormatError(f"-F: \\{following} is not supported (supported: \\\\ \\0 \\a \\e \\n \\r \\t \\v)")
                index += 2
            else:
                self._parts.append(char.encode("utf-8"))
                index += 1

    def render(self, record: MessageRecord, shown: Shown, newline: bool) -> bytes:
        out = b"".join(part if isinstance(part, bytes) else part.render(record, shown) for part in self._parts)
        return out + (b"\n" if newline else b"")


def message_format(text: str) -> MessageFormat:
    """An argparse type for ``-F``: a format that cannot be read is a usage error (exit 2)."""
    try:
        return MessageFormat(text)
    except FormatError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
