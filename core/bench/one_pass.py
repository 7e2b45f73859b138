"""A latency histogram's percentiles in one pass over its counts.

``LatencyRecorder.summary`` walks the histogram once per percentile; a run that shows many
histograms a few times a second (``bench mesh``: one per pair and per hop) reads them all in one
walk each. The values are the same.
"""

from __future__ import annotations

from eventscope.core.bench.latency import PERCENTILES, US_PER_MS, LatencyRecorder, LatencySummary


def summary(recorder: LatencyRecorder) -> LatencySummary:
    histogram = recorder.histogram
    count = histogram.get_total_count()
    if not count:
        return LatencySummary(0, None, None, None, None, None)
    values = histogram.get_percentile_to_value_dict([p for _, p in PERCENTILES])
    ms = {key: values[p] / US_PER_MS for key, p in PERCENTILES}
    return LatencySummary(count, ms["p50"], ms["p90"], ms["p99"], ms["p999"], histogram.get_max_value() / US_PER_MS)
