"""The audit's in-memory record of recent rows by content hash: looked up a batch at a time, forgotten by time or by id."""

from __future__ import annotations

import math

from eventscope.core.audit.recent_copies import RUN_SECONDS, RecentCopies

BIG = 2**63 - 1  # hashes are signed 64-bit: both ends must be found


def test_copies_are_found_per_hash_and_broker_in_id_order_across_runs():
    recent = RecentCopies()
    recent.add_rows([(7, 1, "east", 10.0), (8, 2, "east", 10.1), (-BIG - 1, 3, "west", 10.2)])
    later = 10.0 + 2 * RUN_SECONDS  # a run of its own
    recent.add([7, BIG, 7], [4, 5, 6], [later, later + 0.1, later + 0.2], ["west", "east", "east"])
    found = recent.lookup([7, 9, BIG, -BIG - 1, 7])
    assert found == {7: {"east": [(1, 10.0), (6, later + 0.2)], "west": [(4, later)]},
                     BIG: {"east": [(5, later + 0.1)]}, -BIG - 1: {"west": [(3, 10.2)]}}
    assert len(recent._runs) == 2
    assert (len(recent), recent.known_id) == (6, 6)
    assert RecentCopies().lookup([7]) == {}


def test_a_batch_within_a_second_joins_the_newest_run_in_hash_and_id_order():
    recent = RecentCopies()
    for row_id in range(1, 41):  # 40 batches over 0.4 s: one run
        recent.add([row_id % 3], [row_id], [100.0 + row_id / 100], ["east"])
    assert len(recent._runs) == 1
    assert [row_id for row_id, _ in recent.lookup([0])[0]["east"]] == list(range(3, 41, 3))


def test_runs_older_than_the_cutoff_go_and_coverage_moves_up():
    recent = RecentCopies()
    recent.reset(0.0, 0)
    recent.add([7], [1], [10.0], ["east"])
    recent.add([8], [2], [12.0], ["east"])
    recent.add([7], [3], [14.0], ["west"])
    recent.forget_before(12.0)
    assert recent.lookup([7, 8]) == {7: {"west": [(3, 14.0)]}, 8: {"east": [(2, 12.0)]}}
    assert recent.covered_since == 12.0
    recent.forget_before(5.0)  # an earlier cutoff neither drops rows nor claims older coverage
    assert (len(recent), recent.covered_since) == (2, 12.0)


def test_pruned_ids_go_even_from_the_middle_of_a_run_and_clear_trusts_nothing():
    recent = RecentCopies()
    recent.add([7, 7, 8], [1, 2, 3], [10.0, 10.1, 10.2], ["east", "east", "west"])
    recent.forget_ids_below(2)
    assert recent.lookup([7, 8]) == {7: {"east": [(2, 10.1)]}, 8: {"west": [(3, 10.2)]}}
    recent.forget_ids_below(4)
    assert (len(recent), recent.lookup([7, 8])) == (0, {})
    recent.clear()
    assert (recent.known_id, recent.covered_since) == (0, math.inf)


def test_a_full_run_takes_no_more_rows(monkeypatch):
    import eventscope.core.audit.recent_copies as recent_copies

    monkeypatch.setattr(recent_copies, "RUN_ROWS", 4)
    recent = RecentCopies()
    for row_id in range(1, 11):  # within a second: runs of 4, 4 and 2 rows
        recent.add([row_id], [row_id], [100.0 + row_id / 100], ["east"])
    assert [len(run.hashes) for run in recent._runs] == [4, 4, 2]
    assert recent.lookup([1, 5, 10]) == {1: {"east": [(1, 100.01)]}, 5: {"east": [(5, 100.05)]},
                                         10: {"east": [(10, 100.1)]}}
