"""A timer on the GUI thread whose lateness is how long that thread was kept busy (the tests' stall probe)."""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer


class StallProbe:
    """Fires every ``interval_ms`` while started; ``late`` holds how late each firing was, in seconds."""

    def __init__(self, interval_ms: int = 10) -> None:
        self.interval = interval_ms / 1000
        self.late: list[float] = []
        self._last = time.monotonic()
        self._timer = QTimer(interval=interval_ms, timeout=self._fired)

    def _fired(self) -> None:
        now = time.monotonic()
        self.late.append(now - self._last - self.interval)
        self._last = now

    def start(self) -> None:
        self._last = time.monotonic()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    @property
    def worst(self) -> float:
        return max(self.late, default=0.0)
