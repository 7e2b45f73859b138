"""The bench header: what every ``eventscope bench`` payload starts with, so any subscriber can count it.

Fixed-width ASCII, 49 bytes, no separators (printable, so ``mosquitto_sub`` shows it on one line)::

    ESB1  PPPPPPPP  SSSSSSSSSS  TTTTTTTTTTTTTTTTTTT  IIIIIIII
    magic publisher sequence    sent (ns, wall clock) interval (µs)

- publisher: 8 hex digits, a random run number (4) and the client's index (4), so two runs on the
  same topics never mix their sequences;
- sequence: 10 decimal digits, from 0 for each publisher;
- sent: ``time.time_ns()`` when the message was handed to the socket;
- interval: how often this publisher's sender sends, in microseconds (0: flat out, no fixed rate).
  A receiver corrects latencies for coordinated omission with it (see ``latency.py``).

The rest of the payload is filler up to the requested size.
"""

from __future__ import annotations

from dataclasses import dataclass

MAGIC = b"ESB1"
PUBLISHER_DIGITS = 8
SEQUENCE_DIGITS = 10
SENT_DIGITS = 19
INTERVAL_DIGITS = 8

PUBLISHER_AT = len(MAGIC)
SEQUENCE_AT = PUBLISHER_AT + PUBLISHER_DIGITS
SENT_AT = SEQUENCE_AT + SEQUENCE_DIGITS
INTERVAL_AT = SENT_AT + SENT_DIGITS
HEADER_SIZE = INTERVAL_AT + INTERVAL_DIGITS

MAX_SEQUENCE = 10**SEQUENCE_DIGITS - 1
MAX_INTERVAL_US = 10**INTERVAL_DIGITS - 1
FILLER = b"x"


@dataclass(frozen=True, slots=True)
class BenchHeader:
    publisher: str  # 8 hex digits
    sequence: int
    sent_ns: int
    interval_us: int


def publisher_id(run: int, client: int) -> str:
    """The 8-hex-digit id of client ``client`` in run ``run`` (both 0..65535)."""
    if not (0 <= run <= 0xFFFF and 0 <= client <= 0xFFFF):
        raise ValueError(f"run {run} and client {client} must each be 0..65535")
    return f"{run:04x}{client:04x}"


def encode_header(publisher: str, sequence: int, sent_ns: int, interval_us: int) -> bytes:
    if len(publisher) != PUBLISHER_DIGITS:
        raise ValueError(f"a publisher id has {PUBLISHER_DIGITS} hex digits, not {publisher!r}")
    if not 0 <= sequence <= MAX_SEQUENCE:
        raise ValueError(f"sequence {sequence} does not fit {SEQUENCE_DIGITS} digits")
    interval_us = min(max(0, interval_us), MAX_INTERVAL_US)
    return b"%s%s%010d%019d%08d" % (MAGIC, publisher.encode("ascii"), sequence, sent_ns, interval_us)


def sequence_and_sent(sequence: int, sent_ns: int) -> bytes:
    """The two fields a sender rewrites in a pre-encoded packet, as they sit side by side (29 bytes)."""
    return b"%010d%019d" % (sequence, sent_ns)


def bench_payload(publisher: str, sequence: int, sent_ns: int, interval_us: int, size: int) -> bytes:
    """A header padded with filler to ``size`` bytes (``size`` at least ``HEADER_SIZE``)."""
    if size < HEADER_SIZE:
        raise ValueError(f"a bench payload has at least {HEADER_SIZE} bytes (the bench header), not {size}")
    return encode_header(publisher, sequence, sent_ns, interval_us) + FILLER * (size - HEADER_SIZE)


def decode_header(payload: bytes) -> BenchHeader | None:
    """The header a payload starts with, or None for any other payload."""
    if len(payload) < HEADER_SIZE or payload[:PUBLISHER_AT] != MAGIC:
        return None
    try:
        publisher = payload[PUBLISHER_AT:SEQUENCE_AT].decode("ascii")
        int(publisher, 16)
        fields = payload[SEQUENCE_AT:HEADER_SIZE]
        if not fields.isdigit():
            return None
        return BenchHeader(publisher, int(fields[:SEQUENCE_DIGITS]),
                           int(payload[SENT_AT:INTERVAL_AT]), int(payload[INTERVAL_AT:HEADER_SIZE]))
    except (UnicodeDecodeError, ValueError):
        return None
