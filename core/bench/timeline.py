"""Counters sampled once a second: the rate over time, for the progress line and the report."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

Counters = dict[str, Callable[[], int]]
TickListener = Callable[[int, dict[str, int]], None]  # (seconds so far, this second's count per counter)


class RateTimeline:
    """Each second, how much every counter grew (``per_second[name]`` is a list, one entry a second)."""

    def __init__(self, counters: Counters, on_tick: TickListener | None = None) -> None:
        self._counters = counters
        self._on_tick = on_tick
        self._last = {name: read() for name, read in counters.items()}
        self.per_second: dict[str, list[int]] = {name: [] for name in counters}
        self._started = time.monotonic()
        self._next = self._started + 1.0

    def tick(self) -> None:
        seconds = len(next(iter(self.per_second.values()), [])) + 1
        counts = {}
        for name, read in self._counters.items():
            value = read()
            counts[name] = value - self._last[name]
            self._last[name] = value
            self.per_second[name].append(counts[name])
        if self._on_tick is not None:
            self._on_tick(seconds, counts)

    def watch(self, done: Callable[[], bool], stop: threading.Event, poll: float = 0.05) -> None:
        """Tick every second until ``done()`` or ``stop``."""
        while not done() and not stop.is_set():
            now = time.monotonic()
            if now >= self._next:
                self.tick()
                self._next += 1.0
                continue
            stop.wait(min(poll, self._next - now))
