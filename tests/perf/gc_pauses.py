"""Garbage collections in this process while a benchmark measures: each one holds the interpreter lock,
so every thread, the window's drawing included, waits for it."""

from __future__ import annotations

import gc
import threading
import time
from dataclasses import dataclass, field


@dataclass
class GcPauses:
    pauses: list[tuple[float, int, str]] = field(default_factory=list)  # (ms, generation, thread)
    _started: dict[int, float] = field(default_factory=dict)

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._on_gc)
        return self

    def __exit__(self, *_exc) -> None:
        gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict) -> None:
        thread = threading.get_ident()
        if phase == "start":
            self._started[thread] = time.perf_counter()
            return
        started = self._started.pop(thread, None)
        if started is not None:
            self.pauses.append(((time.perf_counter() - started) * 1000, info["generation"],
                                threading.current_thread().name))

    def summary(self) -> str:
        if not self.pauses:
            return "no garbage collection"
        longest = max(self.pauses)
        full = [ms for ms, generation, _ in self.pauses if generation == 2]
        return (f"{len(self.pauses):,} garbage collections, {sum(ms for ms, _, _ in self.pauses):,.0f} ms in all; "
                f"{len(full)} full, {sum(full):,.0f} ms; the longest {longest[0]:.1f} ms "
                f"(generation {longest[1]}, on {longest[2]})")
