"""The bounded hand-off between the network thread and whoever drains it."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from eventscope.core.records import RECORD_OVERHEAD_BYTES, MessageRecord

DEFAULT_MAX_COUNT = 200_000
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
# How often a blocked network thread re-checks whether its buffer was closed.
BLOCK_POLL_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class IngestStats:
    """A snapshot of the buffer's counters. ``stalled`` counts appends that had to wait for room."""

    received: int
    dropped: int
    buffered: int
    buffered_bytes: int
    stalled: int = 0


class IngestBuffer:
    """A FIFO of message records bounded by count and by bytes.

    ``append`` is called on the network thread. By default it never waits for the consumer:
    when a bound would be exceeded the record is dropped and counted, so the network thread
    keeps reading and the drop shows in the status bar.

    With ``block_when_full`` (the manual-ack audit session) nothing is ever dropped: ``append``
    waits for room instead, so the network thread stops reading and the broker keeps the
    unacknowledged messages. ``close`` releases a waiting append (it then returns False and the
    record, never acknowledged, is redelivered by the broker).

    ``drain`` takes everything that is waiting, in arrival order.
    """

    def __init__(self, max_count: int = DEFAULT_MAX_COUNT, max_bytes: int = DEFAULT_MAX_BYTES,
                 block_when_full: bool = False) -> None:
        if max_count <= 0 or max_bytes <= 0:
            raise ValueError("buffer bounds must be positive")
        self.max_count = max_count
        self.max_bytes = max_bytes
        self.block_when_full = block_when_full
        self._records: deque[MessageRecord] = deque()
        self._bytes = 0
        self._received = 0
        self._dropped = 0
        self._stalled = 0
        self._closed = False
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)

    def append(self, record: MessageRecord) -> bool:
        """Queue ``record``. Returns False when it was not queued (full and dropping, or closed)."""
        size = record.footprint
        with self._lock:
            self._received += 1
            if self._is_full(size):
                if not self.block_when_full:
                    self._dropped += 1
                    return False
                self._stalled += 1
                while self._is_full(size) and not self._closed:
                    self._room.wait(BLOCK_POLL_SECONDS)
                if self._closed:
                    return False
            self._records.append(record)
            self._bytes += size
            return True

    def extend(self, records: list[MessageRecord]) -> int:
        """Queue a batch (never blocks: drops what does not fit, and counts it). Returns how many were queued."""
        queued = 0
        batch_bytes = sum([len(r.payload) + len(r.topic) for r in records]) + RECORD_OVERHEAD_BYTES * len(records)
        with self._lock:
            self._received += len(records)
            if len(self._records) + len(records) <= self.max_count and self._bytes + batch_bytes <= self.max_bytes:
                self._records.extend(records)  # all of it fits: one call, not a bounds check per record
                self._bytes += batch_bytes
                return len(records)
            for record in records:
                size = record.footprint
                if self._is_full(size):
                    self._dropped += 1
                    continue
                self._records.append(record)
                self._bytes += size
                queued += 1
        return queued

    def _is_full(self, size: int) -> bool:
        # An empty buffer always takes one record, however large, so a huge message cannot wedge it.
        return bool(self._records) and (len(self._records) >= self.max_count or self._bytes + size > self.max_bytes)

    def drain(self, limit: int | None = None) -> list[MessageRecord]:
        """Remove and return waiting records, oldest first (at most ``limit``)."""
        with self._lock:
            if not self._records:
                return []
            if limit is None or limit >= len(self._records):
                records = list(self._records)
                self._records.clear()
                self._bytes = 0
            else:
                records = [self._records.popleft() for _ in range(limit)]
                self._bytes -= sum(r.footprint for r in records)
            self._room.notify_all()
        return records

    def close(self) -> None:
        """Release any append waiting for room; later appends still queue while there is room."""
        with self._lock:
            self._closed = True
            self._room.notify_all()

    def stats(self) -> IngestStats:
        with self._lock:
            return IngestStats(self._received, self._dropped, len(self._records), self._bytes, self._stalled)

    def __len__(self) -> int:
        return len(self._records)
