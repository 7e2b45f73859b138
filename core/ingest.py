"""The bounded hand-off between the network thread and whoever flushes it."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from core.records import MessageRecord

DEFAULT_MAX_COUNT = 200_000
DEFAULT_MAX_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class IngestStats:
    """A snapshot of the buffer's counters."""

    received: int
    dropped: int
    buffered: int
    buffered_bytes: int


class IngestBuffer:
    """A FIFO of message records bounded by count and by bytes.

    ``append`` is called on the network thread. It never blocks for long and never
    waits for the consumer: when a bound would be exceeded the record is dropped and
    counted, so the network thread keeps reading and the drop shows in the status bar.
    ``drain`` takes everything that is waiting, in arrival order.
    """

    def __init__(self, max_count: int = DEFAULT_MAX_COUNT, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_count <= 0 or max_bytes <= 0:
            raise ValueError("buffer bounds must be positive")
        self.max_count = max_count
        self.max_bytes = max_bytes
        self._records: deque[MessageRecord] = deque()
        self._bytes = 0
        self._received = 0
        self._dropped = 0
        self._lock = threading.Lock()

    def append(self, record: MessageRecord) -> bool:
        """Queue ``record``. Returns False (and counts a drop) when the buffer is full."""
        size = record.footprint
        with self._lock:
            self._received += 1
            if len(self._records) >= self.max_count or self._bytes + size > self.max_bytes:
                self._dropped += 1
                return False
            self._records.append(record)
            self._bytes += size
            return True

    def drain(self) -> list[MessageRecord]:
        """Remove and return every waiting record, oldest first."""
        with self._lock:
            if not self._records:
                return []
            records = list(self._records)
            self._records.clear()
            self._bytes = 0
        return records

    def stats(self) -> IngestStats:
        with self._lock:
            return IngestStats(self._received, self._dropped, len(self._records), self._bytes)

    def __len__(self) -> int:
        return len(self._records)
