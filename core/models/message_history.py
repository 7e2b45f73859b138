"""One topic's kept messages, packed one after another in a single buffer rather than as objects.

An object per kept message (``TopicMessage`` with its float) cost 104 bytes besides the payload, and a
payload object of its own about 40 more; a tree of 100,000 topics keeps millions of them. Here a message
costs its payload's bytes plus a 13-byte header (time, flags, size), and a topic's history is two objects
whatever its length. Properties and the original size of a cut payload, which few messages have, sit
in a dict by position. The newest message is read from the end of the buffer, so a topic keeps no
other copy of its last message.

The tick thread appends and drops; the GUI thread reads ``snapshot()`` without a lock. A change counter,
odd while a change is under way, tells the reader when a change overtook its copy, which it then takes
again (a sequence lock).
"""

from __future__ import annotations

from collections.abc import Iterator
from struct import Struct
from time import sleep

from eventscope.core.records import NO_PROPERTIES, MessageProperties

_HEADER = Struct("<dBI")  # arrival time, flags (QoS, retain), payload size
HEADER_SIZE = _HEADER.size
_pack_header = _HEADER.pack
_unpack_header = _HEADER.unpack_from
# The bytes one kept message costs besides its payload's own bytes: its header (13) and its share of the
# buffer's spare room. Measured with ``tests/perf/bench_topic_tree``.
ENTRY_OVERHEAD = 16

_QOS = 0x03
_RETAIN = 0x04
_SNAPSHOT_TRIES = 100


class TopicMessage:
    """One message as the tree shows it (no topic: the node knows it).

    ``truncated`` and ``original_size`` say whether ``payload`` was cut to the display limit.
    """

    __slots__ = ("payload", "received", "qos", "retain", "properties")
    truncated = False

    def __init__(self, payload: bytes, received: float, qos: int, retain: bool,
                 properties: MessageProperties = NO_PROPERTIES) -> None:
        self.payload = payload
        self.received = received
        self.qos = qos
        self.retain = retain
        self.properties = properties

    @property
    def original_size(self) -> int:
        return len(self.payload)

    @property
    def size(self) -> int:
        return self.original_size


class TruncatedMessage(TopicMessage):
    """A message whose payload was larger than the display limit; ``payload`` holds its start."""

    __slots__ = ("_original_size",)
    truncated = True

    def __init__(self, payload: bytes, received: float, qos: int, retain: bool,
                 properties: MessageProperties, original_size: int) -> None:
        super().__init__(payload, received, qos, retain, properties)
        self._original_size = original_size

    @property
    def original_size(self) -> int:
        return self._original_size


class MessageHistory:
    """A topic's messages, oldest first: append at the end, drop from the front."""

    __slots__ = ("_entries", "_count", "_newest_size", "_extras", "_first", "_changes")

    def __init__(self) -> None:
        # Each message as a header (``_HEADER``) followed by its payload, oldest first. Deleting from the
        # front of a bytearray moves its start rather than its bytes, so dropping the oldest costs no copy.
        self._entries = bytearray()
        self._count = 0
        self._newest_size = 0  # the newest entry's bytes, header included: it ends the buffer
        # Position (counted from the first message ever kept) -> (properties, original size or -1).
        self._extras: dict[int, tuple[MessageProperties, int]] | None = None  # made when first needed
        self._first = 0  # the position of the oldest kept message
        self._changes = 0  # odd while the tick thread changes the entries

    def __len__(self) -> int:
        return self._count

    @property
    def payload_bytes(self) -> int:
        """The kept payloads' bytes together."""
        return len(self._entries) - HEADER_SIZE * self._count

    def append(self, payload: bytes, received: float, qos: int, retain: bool,
               properties: MessageProperties = NO_PROPERTIES, original_size: int = -1) -> int:
        """Keep a message; ``original_size`` is its size before it was cut to ``payload``, or -1 if it was not.
        Returns how many are kept now."""
        self._changes += 1
        if properties is not NO_PROPERTIES or original_size >= 0:
            if self._extras is None:
                self._extras = {}
            self._extras[self._first + self._count] = (properties, original_size)
        entries = self._entries
        entries += _pack_header(received, qos | (_RETAIN if retain else 0), len(payload))
        entries += payload
        self._newest_size = HEADER_SIZE + len(payload)
        self._count += 1
        self._changes += 1
        return self._count

    def append_message(self, message: TopicMessage) -> None:
        self.append(message.payload, message.received, message.qos, message.retain, message.properties,
                    message.original_size if message.truncated else -1)

    def pop_oldest(self) -> int:
        """Drop the oldest message; returns its payload's size."""
        self._changes += 1
        size = _unpack_header(self._entries)[2]
        del self._entries[:HEADER_SIZE + size]
        self._count -= 1
        if not self._count:
            self._newest_size = 0
        if self._extras:
            self._extras.pop(self._first, None)
        self._first += 1
        self._changes += 1
        return size

    def newest(self) -> TopicMessage | None:
        """The newest message, as it was at one moment (from any thread)."""
        for _ in range(_SNAPSHOT_TRIES):
            changes = self._changes
            if changes & 1:
                sleep(0)  # let the tick thread finish its change
                continue
            size = self._newest_size
            entry = bytes(self._entries[-size:]) if size else b""
            extras = self._extras
            extra = extras.get(self._first + self._count - 1) if extras else None
            if changes == self._changes:
                return _message(entry, 0, extra)[0] if size else None
            sleep(0)
        return None

    def newest_payload(self) -> bytes | bytearray:
        """A copy of the newest message's payload, or b"" (from any thread): for searches, without making the message."""
        for _ in range(_SNAPSHOT_TRIES):
            changes = self._changes
            entries = self._entries
            size = self._newest_size
            payload = entries[len(entries) - size + HEADER_SIZE:] if size else b""
            if changes == self._changes and not changes & 1:
                return payload
            sleep(0)
        return b""

    def snapshot(self) -> list[TopicMessage]:
        """The messages, oldest first, as they were at one moment (from any thread)."""
        for _ in range(_SNAPSHOT_TRIES):
            changes = self._changes
            if changes & 1:
                sleep(0)
                continue
            first, count = self._first, self._count
            entries = bytes(self._entries)
            extras = dict(self._extras) if self._extras else {}
            if changes == self._changes:
                messages = []
                offset = 0
                for position in range(first, first + count):
                    message, offset = _message(entries, offset, extras.get(position))
                    messages.append(message)
                return messages
            sleep(0)
        return []  # changing faster than it can be copied: the next refresh shows it

    def __iter__(self) -> Iterator[TopicMessage]:
        return iter(self.snapshot())


def _message(entries: bytes, offset: int, extra: tuple[MessageProperties, int] | None) -> tuple[TopicMessage, int]:
    """The message whose entry starts at ``offset``, and where the next entry starts."""
    received, flag, size = _unpack_header(entries, offset)
    start = offset + HEADER_SIZE
    payload = entries[start:start + size]
    qos, retain = flag & _QOS, bool(flag & _RETAIN)
    if extra is None:
        return TopicMessage(payload, received, qos, retain), start + size
    properties, original_size = extra
    if original_size >= 0:
        return TruncatedMessage(payload, received, qos, retain, properties, original_size), start + size
    return TopicMessage(payload, received, qos, retain, properties), start + size
