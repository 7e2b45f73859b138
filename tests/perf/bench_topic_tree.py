"""Topic tree benchmarks: core apply throughput, memory and filter time.

    python -m tests.perf.bench_topic_tree                 # everything
    python -m tests.perf.bench_topic_tree --skip-memory   # skip the 10M-message RSS run

The window's stalls under a live feed are measured with every view live, over a real broker,
by ``bench_window_stall``.
"""

from __future__ import annotations

import argparse
import gc
import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import psutil  # noqa: E402

from eventscope.core.models.topic_tree import DEFAULT_HISTORY_BUDGET, TopicTree, TreeFilter  # noqa: E402
from eventscope.core.records import MessageRecord  # noqa: E402
from eventscope.core.workspace.allocator import return_freed_memory  # noqa: E402

REGIONS = ("us-east", "us-west", "eu-central", "ap-south")
BATCH = 1000


def topics(count: int) -> list[str]:
    per_region = count // len(REGIONS)
    sites = max(1, per_region // 50)
    return [f"{r}/site{i // 50 % sites}/dev{i % 50}/m{i // (50 * sites)}" for r in REGIONS for i in range(per_region)]


def bench_apply(topic_count: int, messages: int) -> tuple[float, float]:
    """(msgs/s creating the topics, msgs/s updating existing topics)."""
    names = topics(topic_count)
    tree = TopicTree()
    create = [MessageRecord(t, b"21.5", received=1.0) for t in names]
    start = time.perf_counter()
    for i in range(0, len(create), BATCH):
        tree.apply(create[i:i + BATCH])
    create_rate = len(create) / (time.perf_counter() - start)
    records = [MessageRecord(names[(i * 7919) % len(names)], b"%d" % i, received=1.0) for i in range(messages)]
    start = time.perf_counter()
    for i in range(0, len(records), BATCH):
        tree.apply(records[i:i + BATCH])
    return create_rate, len(records) / (time.perf_counter() - start)


def bench_memory(topic_count: int, history: int, payload_size: int,
                 budget: int = DEFAULT_HISTORY_BUDGET) -> tuple[float, float, float, int]:
    """(RSS growth in MiB at the end, its peak over the rounds, seconds, history kept per topic) for
    topic_count topics, each sent ``history`` distinct payloads, with the given history budget."""
    gc.collect()
    process = psutil.Process()
    before = process.memory_info().rss
    names = topics(topic_count)
    tree = TopicTree(history_count=history, history_budget=budget)
    start = time.perf_counter()
    counter = 0
    peak = before
    memory_releases = 0
    for _round in range(history):
        for i in range(0, len(names), 10_000):
            batch = []
            for topic in names[i:i + 10_000]:
                batch.append(MessageRecord(topic, b"%0*d" % (payload_size, counter), received=1.0))
                counter += 1
            tree.apply(batch)
            if tree.memory_releases != memory_releases:  # as the workspace's tick does
                memory_releases = tree.memory_releases
                return_freed_memory()
        peak = max(peak, process.memory_info().rss)
    elapsed = time.perf_counter() - start
    gc.collect()
    grown = (process.memory_info().rss - before) / 2**20
    assert tree.total_messages == topic_count * history
    kept = tree.effective_history_count
    del tree
    return grown, (peak - before) / 2**20, elapsed, kept


def bench_filter(topic_count: int) -> list[tuple[str, float, int]]:
    tree = TopicTree()
    names = topics(topic_count)
    for i in range(0, len(names), 10_000):
        tree.apply([MessageRecord(t, b"x", received=1.0) for t in names[i:i + 10_000]])
    out = []
    for text, payload in (("#", False), ("+/site3/#", False), ("+/+/dev7/+", False), ("us-east/#", False),
                          ("dev7/", False), ("needle", True)):
        start = time.perf_counter()
        matches = tree.matching_nodes(TreeFilter(text, payload))
        out.append((text + (" (payload)" if payload else ""), (time.perf_counter() - start) * 1000, len(matches)))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args(argv)

    rows: list[tuple[str, str]] = []
    for count in (2000, 100_000):
        create, update = bench_apply(count, 300_000)
        rows.append((f"core apply, {count} topics: create", f"{create:,.0f} msgs/s"))
        rows.append((f"core apply, {count} topics: update", f"{update:,.0f} msgs/s"))
    for text, ms, matches in bench_filter(100_000):
        rows.append((f"filter 100k topics: {text}", f"{ms:.1f} ms ({matches} match)"))
    if not args.skip_memory:
        grown, peak, elapsed, kept = bench_memory(100_000, 100, 50)
        rows.append(("RSS growth, 100k topics x 100 msgs x 50 B, default budget: end / peak",
                     f"{grown:,.0f} / {peak:,.0f} MiB ({kept} kept per topic, {elapsed:.0f} s)"))
        grown, peak, elapsed, kept = bench_memory(100_000, 100, 50, budget=2**62)
        rows.append(("RSS growth, same, no budget (100 kept per topic): end / peak",
                     f"{grown:,.0f} / {peak:,.0f} MiB ({elapsed:.0f} s)"))
    width = max(len(name) for name, _ in rows)
    print(f"{'measure':<{width}}  result")
    print(f"{'-' * width}  {'-' * 30}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
