"""Percentiles of unsorted values (numpy's sort, which lets other threads run) rank as the sorted-list ones do."""

from __future__ import annotations

import math
import random

from eventscope.core.requests.rtt_stats import percentile, percentiles_of


def test_unsorted_percentiles_match_the_nearest_rank_of_the_sorted_values():
    rng = random.Random(7)
    for size in (1, 2, 3, 99, 100, 101, 10_000):
        values = [rng.uniform(0, 500) for _ in range(size)]
        fractions = (0.0, 0.5, 0.9, 0.99, 1.0)
        expected = [percentile(sorted(values), fraction) for fraction in fractions]
        assert percentiles_of(iter(values), fractions) == expected, size


def test_no_values_give_nan_for_every_fraction():
    assert all(math.isnan(value) for value in percentiles_of([], (0.5, 0.99)))
