"""One topic's kept messages, stored by column rather than as an object per message.

An object per kept message (``TopicMessage`` with its float) cost 104 bytes besides the payload; a
tree of 100,000 topics keeps millions of them. Here a message costs its payload object plus about
17 bytes: a slot in the payload list, a float in an array and one byte of flags. Properties and the
original size of a cut payload, which few messages have, sit in a dict by position.

The tick thread appends and drops; the GUI thread reads ``snapshot()`` without a lock. A change counter,
odd while a change is under way, tells the reader when a change overtook its copy, which it then takes
again (a sequence lock).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from time import sleep

from eventscope.core.records import NO_PROPERTIES, MessageProperties

# The bytes one kept message costs besides its payload's own bytes (CPython 3.11, 64-bit): the payload
# object's header and allocator rounding (about 48), its list slot (8), its time (8), its flags (1),
# and the lists' spare room. Measured with ``tests/perf/bench_topic_tree``.
ENTRY_OVERHEAD = 72

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

    __slots__ = ("_payloads", "_times", "_flags", "_extras", "_first", "_changes")

    def __init__(self) -> None:
        self._payloads: list[bytes] = []
        self._times = array("d")
        self._flags = bytearray()
        # Position (counted from the first message ever kept) -> (properties, original size or -1).
        self._extras: dict[int, tuple[MessageProperties, int]] | None = None  # made when first needed
        self._first = 0  # the position of the oldest kept message
        self._changes = 0  # odd while the tick thread changes the columns

    def __len__(self) -> int:
        return len(self._payloads)

    def append(self, message: TopicMessage) -> None:
        self._changes += 1
        cut = message.truncated
        if message.properties is not NO_PROPERTIES or cut:
            if self._extras is None:
                self._extras = {}
            self._extras[self._first + len(self._payloads)] = (message.properties,
                                                               message.original_size if cut else -1)
        self._payloads.append(message.payload)
        self._times.append(message.received)
        self._flags.append(message.qos | (_RETAIN if message.retain else 0))
        self._changes += 1

    def pop_oldest(self) -> int:
        """Drop the oldest message; returns its payload's size."""
        self._changes += 1
        payload = self._payloads.pop(0)
        del self._times[0]
        del self._flags[0]
        if self._extras:
            self._extras.pop(self._first, None)
        self._first += 1
        self._changes += 1
        return len(payload)

    def snapshot(self) -> list[TopicMessage]:
        """The messages, oldest first, as they were at one moment (from any thread)."""
        for _ in range(_SNAPSHOT_TRIES):
            changes = self._changes
            if changes & 1:
                sleep(0)  # let the tick thread finish its change
                continue
            first = self._first
            payloads = self._payloads[:]
            times = self._times.tolist()
            flags = bytes(self._flags)
            extras = dict(self._extras) if self._extras else {}
            if changes == self._changes:
                return [_message(payload, received, flag, extras.get(first + index))
                        for index, (payload, received, flag) in enumerate(zip(payloads, times, flags))]
            sleep(0)
        return []  # changing faster than it can be copied: the next refresh shows it

    def __iter__(self) -> Iterator[TopicMessage]:
        return iter(self.snapshot())


def _message(payload: bytes, received: float, flag: int, extra: tuple[MessageProperties, int] | None) -> TopicMessage:
    qos, retain = flag & _QOS, bool(flag & _RETAIN)
    if extra is None:
        return TopicMessage(payload, received, qos, retain)
    properties, original_size = extra
    if original_size >= 0:
        return TruncatedMessage(payload, received, qos, retain, properties, original_size)
    return TopicMessage(payload, received, qos, retain, properties)
