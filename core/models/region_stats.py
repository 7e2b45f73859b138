"""Regions discovered from traffic, each with a running count and a recent rate."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

RATE_WINDOW_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class RegionCount:
    """One region as a chip shows it."""

    region: str
    count: int
    rate: float  # messages per second over the last few seconds


class RegionStats:
    """Per-region counters, updated once per flush batch.

    The rate is the number of messages seen in the last ``window`` seconds divided by
    the window (or by the time since the first message, while that is shorter), so a
    quiet region decays to 0/s instead of keeping its last burst rate.
    """

    def __init__(self, window: float = RATE_WINDOW_SECONDS) -> None:
        self.window = window
        self._counts: dict[str, int] = {}
        self._history: deque[tuple[float, dict[str, int]]] = deque()
        self._first_seen = 0.0

    @property
    def regions(self) -> list[str]:
        """Regions in the order they were first seen."""
        return list(self._counts)

    def note_batch(self, batch_counts: dict[str, int], now: float | None = None) -> list[str]:
        """Add one flush's per-region counts. Returns regions seen for the first time."""
        now = time.monotonic() if now is None else now
        if not self._counts and batch_counts:
            self._first_seen = now
        new = [region for region in batch_counts if region not in self._counts]
        for region, count in batch_counts.items():
            self._counts[region] = self._counts.get(region, 0) + count
        if batch_counts:
            self._history.append((now, dict(batch_counts)))
        self._expire(now)
        return new

    def _expire(self, now: float) -> None:
        while self._history and self._history[0][0] < now - self.window:
            self._history.popleft()

    def count(self, region: str) -> int:
        return self._counts.get(region, 0)

    def rate(self, region: str, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        self._expire(now)
        recent = sum(counts.get(region, 0) for _, counts in self._history)
        span = min(self.window, max(now - self._first_seen, 1.0))
        return recent / span

    def snapshot(self, now: float | None = None) -> list[RegionCount]:
        now = time.monotonic() if now is None else now
        return [RegionCount(region, count, self.rate(region, now)) for region, count in self._counts.items()]

    def clear(self) -> None:
        self._counts.clear()
        self._history.clear()
