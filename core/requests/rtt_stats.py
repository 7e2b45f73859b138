"""Round-trip-time summaries: min, p50, p99, max and throughput of a set of requests."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (``fraction`` in 0..1)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def percentiles_of(values: Iterable[float], fractions: Sequence[float]) -> list[float]:
    """Nearest-rank percentiles of unsorted ``values``, as ``percentile`` gives them.

    The sort runs in numpy, which lets go of the interpreter lock: sorting 200,000 floats with
    ``sorted`` holds it for tens of milliseconds, and a window's GUI thread waits that long.
    """
    array = np.fromiter(values, dtype=float)
    if array.size == 0:
        return [math.nan for _ in fractions]
    array.sort()
    count = array.size
    return [float(array[min(max(1, math.ceil(fraction * count)), count) - 1]) for fraction in fractions]


@dataclass(frozen=True, slots=True)
class RttSummary:
    """RTTs in seconds; ``failures`` counts requests that got no reply."""

    count: int
    failures: int
    minimum: float
    p50: float
    p99: float
    maximum: float
    elapsed: float = 0.0

    @classmethod
    def from_samples(cls, rtts: Sequence[float], failures: int = 0, elapsed: float = 0.0) -> RttSummary:
        ordered = sorted(rtts)
        if not ordered:
            return cls(0, failures, math.nan, math.nan, math.nan, math.nan, elapsed)
        return cls(len(ordered), failures, ordered[0], percentile(ordered, 0.50), percentile(ordered, 0.99),
                   ordered[-1], elapsed)

    @property
    def throughput(self) -> float:
        """Answered requests per second over the elapsed time (0 if unknown)."""
        return self.count / self.elapsed if self.elapsed > 0 else 0.0

    def text(self) -> str:
        """One line for a status label or stderr, times in milliseconds."""
        if not self.count:
            return f"0 replies, {self.failures} failed"
        line = (f"{self.count} replies, {self.failures} failed; RTT ms min {self.minimum * 1e3:.2f} "
                f"p50 {self.p50 * 1e3:.2f} p99 {self.p99 * 1e3:.2f} max {self.maximum * 1e3:.2f}")
        if self.elapsed > 0:
            line += f"; {self.throughput:.0f} req/s"
        return line
