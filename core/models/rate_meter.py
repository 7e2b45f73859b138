"""Messages per second over the last whole window, for status bars."""

from __future__ import annotations

import time

RATE_WINDOW = 1.0  # seconds


class RateMeter:
    """Counts events and turns them into a rate once per ``window`` seconds."""

    __slots__ = ("window", "rate", "_start", "_count")

    def __init__(self, window: float = RATE_WINDOW) -> None:
        self.window = window
        self.rate = 0.0
        self._start = time.monotonic()
        self._count = 0

    def note(self, count: int, now: float) -> float:
        self._count += count
        elapsed = now - self._start
        if elapsed >= self.window:
            self.rate = self._count / elapsed
            self._start, self._count = now, 0
        return self.rate
