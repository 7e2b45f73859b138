"""Latencies in an HDR histogram: microsecond resolution, percentiles in milliseconds.

Coordinated omission: a sender that waits for the system it measures (a send that blocks while
the broker is stalled, a request that waits for the previous reply) sends nothing while it waits,
so the stall shows up in one slow sample instead of in every message that should have gone out
meanwhile. With a fixed rate the interval between a sender's sends is known, and
``record_corrected_value`` adds the samples the stalled sends would have had (L - i, L - 2i, ...
down to the interval i). Samples no longer than the interval are recorded as they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import BinaryIO

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # an hour: longer is clamped (and counted)
SIGNIFICANT_FIGURES = 3
US_PER_MS = 1000.0

# The percentiles every bench reports, as (JSON key, percentile).
PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p999", 99.9))


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Percentiles in milliseconds; None when nothing was recorded."""

    count: int  # samples in the histogram, corrections included
    p50: float | None
    p90: float | None
    p99: float | None
    p999: float | None
    max: float | None

    def as_dict(self) -> dict[str, float | None]:
        return {"p50": self.p50, "p90": self.p90, "p99": self.p99, "p999": self.p999, "max": self.max}


class LatencyRecorder:
    """An HDR histogram of latencies in microseconds, with coordinated-omission correction on request."""

    def __init__(self) -> None:
        self.histogram = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)
        self.samples = 0  # measured samples, without the corrections
        self.negative = 0  # clocks out of step (sender and receiver on different hosts): recorded as 0
        self.clamped = 0  # above the histogram's range: recorded as its highest value
        self.corrected = 0  # measured samples recorded with the coordinated-omission correction

    def record(self, latency_us: int, interval_us: int = 0, count: int = 1) -> None:
        """``count`` samples of ``latency_us``; ``interval_us`` > 0 is the sender's fixed interval,
        and turns on the correction for coordinated omission."""
        self.samples += count
        if latency_us < 0:
            self.negative += count
            latency_us = 0
        elif latency_us > HIGHEST_US:
            self.clamped += count
            latency_us = HIGHEST_US
        if interval_us > 0:
            self.corrected += count
            self.histogram.record_corrected_value(latency_us, interval_us, count)
        else:
            self.histogram.record_value(latency_us, count)

    def add(self, other: LatencyRecorder) -> None:
        if other.histogram.get_total_count():
            self.histogram.add(other.histogram)
        self.samples += other.samples
        self.negative += other.negative
        self.clamped += other.clamped
        self.corrected += other.corrected

    @property
    def count(self) -> int:
        return self.histogram.get_total_count()

    def summary(self) -> LatencySummary:
        if not self.count:
            return LatencySummary(0, None, None, None, None, None)
        values = {key: self.histogram.get_value_at_percentile(p) / US_PER_MS for key, p in PERCENTILES}
        return LatencySummary(self.count, values["p50"], values["p90"], values["p99"], values["p999"],
                              self.histogram.get_max_value() / US_PER_MS)

    def write_percentile_distribution(self, out: BinaryIO) -> None:
        """HdrHistogram's standard text table (the .hgrm form HDR plotters read), values in milliseconds.

        The package writes the footer's StdDeviation unscaled, in microseconds; Value, Mean and Max are in ms.
        """
        self.histogram.output_percentile_distribution(out, US_PER_MS)


def microseconds(seconds: float) -> int:
    return int(math.floor(seconds * 1e6 + 0.5))
