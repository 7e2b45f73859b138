"""A live stream: the capped in-memory window of records that match one stream filter.

The window keeps every record that matches the *topic filter* (up to ``capacity``),
and a visible index: the subsequence that also passes the region selection and the
text search. So choosing other regions, or typing a search, re-filters the window at
once with no reconnect and no history lost; only a new topic filter starts empty.

Rows are addressed by an absolute number that only grows (``first_row`` is the
absolute number of visible row 0), so the workspace can tell a table how many rows left
the front and how many were appended since its last delta.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from enum import Enum
from typing import Final

from eventscope.core.models.region_stats import RegionStats
from eventscope.core.models.stream_filter import StreamFilter
from eventscope.core.records import MessageRecord
from eventscope.core.topics import region_of

DEFAULT_CAPACITY = 10_000
MAX_WAITING = 1_000_000  # records held while paused; beyond this the oldest waiting ones go
TOPIC_CACHE_LIMIT = 50_000


class _Sentinel(Enum):
    UNKNOWN = 0  # a topic the cache has no verdict for yet (None is a verdict: no region)


_UNKNOWN: Final = _Sentinel.UNKNOWN


@dataclass(frozen=True, slots=True)
class StreamChange:
    """What one ``apply`` did to the visible rows, in one pass.

    ``evicted`` rows left from the front (rows 0..evicted-1 of the old view), then
    ``appended`` rows were added at the end. ``reset`` means the whole view was rebuilt
    (filter change); the counts are then 0. ``new_regions`` were seen for the first time.
    """

    evicted: int = 0
    appended: int = 0
    reset: bool = False
    new_regions: tuple[str, ...] = ()
    waiting: int = 0

    @property
    def evicted_range(self) -> tuple[int, int] | None:
        """(first, last) rows removed, in the numbering before the batch."""
        return (0, self.evicted - 1) if self.evicted else None

    def appended_range(self, rows_after: int) -> tuple[int, int] | None:
        """(first, last) rows added, in the numbering after the batch."""
        return (rows_after - self.appended, rows_after - 1) if self.appended else None


class Stream:
    """A stream filter applied to flush batches, with a capped window and region counts.

    Events: none; ``apply`` returns a ``StreamChange`` that the caller hands to its view.
    """

    def __init__(self, stream_filter: StreamFilter | None = None, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity <= 0:
            raise ValueError("stream capacity must be positive")
        self.capacity = capacity
        self.filter = stream_filter or StreamFilter()
        self.region_stats = RegionStats()
        self._window: deque[MessageRecord] = deque()
        self._visible: list[MessageRecord] = []
        self._head = 0  # visible[_head:] are shown; before it: evicted by the last batch
        self._offset = 0  # absolute row number of _visible[0]
        self._paused = False
        self._waiting: deque[MessageRecord] = deque()
        self.received = 0  # records that matched the topic filter
        self.generation = 0  # grows on every re-filter: absolute row numbers start afresh
        self._topic_cache: dict[str, str | None] = {}

    # ----- reading -----
    @property
    def row_count(self) -> int:
        return len(self._visible) - self._head

    @property
    def first_row(self) -> int:
        """Absolute number of visible row 0."""
        return self._offset + self._head

    def row(self, row: int) -> MessageRecord:
        return self._visible[self._head + row]

    def records(self) -> list[MessageRecord]:
        return self._visible[self._head:]

    @property
    def window_size(self) -> int:
        return len(self._window)

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def region(self, record: MessageRecord) -> str:
        return self.filter.region(record)

    # ----- applying traffic -----
    def apply(self, batch: list[MessageRecord], now: float | None = None) -> StreamChange:
        """Apply one flush batch in one pass. While paused, matching records wait."""
        self._compact()
        matcher = self.filter.matches_topic
        level = self.filter.region_level
        cache = self._topic_cache
        if len(cache) > TOPIC_CACHE_LIMIT:
            cache.clear()
        matching: list[MessageRecord] = []
        counts: dict[str, int] = {}
        by_broker = self.filter.region if self.filter.region_from_broker else None
        for record in batch:
            topic = record.topic
            # Topics repeat: remember each topic's verdict (its region, or None) instead of walking the trie again.
            region = cache.get(topic, _UNKNOWN)
            if region is _UNKNOWN:
                region = cache[topic] = region_of(topic, level) if matcher(topic) else None
            if region is not None:
                if by_broker is not None:
                    region = by_broker(record)
                matching.append(record)
                counts[region] = counts.get(region, 0) + 1
        self.received += len(matching)
        new_regions = tuple(self.region_stats.note_batch(counts, now))
        if self._paused:
            self._waiting.extend(matching)
            while len(self._waiting) > MAX_WAITING:
                self._waiting.popleft()
            return StreamChange(new_regions=new_regions, waiting=len(self._waiting))
        evicted, appended = self._append(matching)
        return StreamChange(evicted, appended, False, new_regions, 0)

    def _append(self, matching: list[MessageRecord]) -> tuple[int, int]:
        if len(matching) > self.capacity:
            matching = matching[-self.capacity:]  # older ones would be evicted in this same pass
        evicted = 0
        overflow = len(self._window) + len(matching) - self.capacity
        visible = self._visible
        for _ in range(max(0, overflow)):
            gone = self._window.popleft()
            if self._head < len(visible) and visible[self._head] is gone:
                self._head += 1
                evicted += 1
        self._window.extend(matching)
        accepts = self._accepts_selection
        before = len(visible)
        visible.extend(r for r in matching if accepts(r))
        return evicted, len(visible) - before

    def _accepts_selection(self, record: MessageRecord) -> bool:
        f = self.filter
        if (f.regions or f.hidden_regions) and not f.region_shown(f.region(record)):
            return False
        if f.brokers and record.broker_id not in f.brokers:
            return False
        return f.matches_text(record)

    def _compact(self) -> None:
        """Forget rows evicted by the previous batch (already announced by now)."""
        if self._head:
            del self._visible[: self._head]
            self._offset += self._head
            self._head = 0

    # ----- changing what is shown -----
    def set_filter(self, stream_filter: StreamFilter) -> StreamChange:
        """Switch filters. Same topic filter and level: re-filter the window at once.

        A different topic filter (or region level) starts an empty window, because the
        window only ever kept records of the old topic filter.
        """
        old = self.filter
        self.filter = stream_filter
        self._topic_cache.clear()
        if (stream_filter.topic_filter, stream_filter.region_level) != (old.topic_filter, old.region_level):
            self._window.clear()
            self._waiting.clear()
            self.region_stats.clear()
            self.received = 0
        elif stream_filter.region_key != old.region_key:
            self.region_stats.clear()  # the same rows, counted under other regions from now on
        return self._refilter()

    def set_regions(self, regions) -> StreamChange:
        return self.set_filter(replace(self.filter, regions=frozenset(regions)))

    def set_text(self, text: str, regex: bool = False) -> StreamChange:
        return self.set_filter(replace(self.filter, text=text, regex=regex))

    def _refilter(self) -> StreamChange:
        self._offset += len(self._visible)  # new absolute numbers: stale rows never alias
        self.generation += 1
        accepts = self._accepts_selection
        self._visible = [r for r in self._window if accepts(r)]
        self._head = 0
        return StreamChange(reset=True)

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> StreamChange:
        """Show everything that waited, in one pass."""
        self._paused = False
        self._compact()
        waiting = list(self._waiting)
        self._waiting.clear()
        evicted, appended = self._append(waiting)
        return StreamChange(evicted, appended)

    def clear(self) -> StreamChange:
        self._window.clear()
        self._waiting.clear()
        return self._refilter()
