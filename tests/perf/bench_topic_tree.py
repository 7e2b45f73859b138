"""Topic tree benchmarks: core apply throughput, memory, filter time, and GUI stalls under a live feed.

    python -m tests.perf.bench_topic_tree                 # everything, GUI feed for 30 s
    python -m tests.perf.bench_topic_tree --seconds 10    # shorter GUI feed
    python -m tests.perf.bench_topic_tree --skip-memory   # skip the 10M-message RSS run

The GUI run feeds records at a fixed rate into a (not connected) session's ingest buffer from a
producer thread, so they go through the real FlushBridge timer, the tree view and its model
(attached, tree expanded, offscreen). A 5 ms QTimer measures how late it fires: main-thread stalls.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import threading
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import psutil  # noqa: E402

from core.records import MessageRecord  # noqa: E402
from core.topic_tree import DEFAULT_HISTORY_BUDGET, TopicTree, TreeFilter  # noqa: E402

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
                 budget: int = DEFAULT_HISTORY_BUDGET) -> tuple[float, float, int]:
    """(RSS growth in MiB, seconds, history kept per topic) for topic_count topics, each sent
    ``history`` distinct payloads, with the given history budget."""
    gc.collect()
    process = psutil.Process()
    before = process.memory_info().rss
    names = topics(topic_count)
    tree = TopicTree(history_count=history, history_budget=budget)
    start = time.perf_counter()
    counter = 0
    for _round in range(history):
        for i in range(0, len(names), 10_000):
            batch = []
            for topic in names[i:i + 10_000]:
                batch.append(MessageRecord(topic, b"%0*d" % (payload_size, counter), received=1.0))
                counter += 1
            tree.apply(batch)
    elapsed = time.perf_counter() - start
    gc.collect()
    grown = (process.memory_info().rss - before) / 2**20
    assert tree.total_messages == topic_count * history
    kept = tree.effective_history_count
    del tree
    return grown, elapsed, kept


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


def bench_gui(seconds: float, rate: int, topic_count: int) -> dict:
    from PySide6.QtCore import QElapsedTimer, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from core.ingest import IngestBuffer
    from core.profile import ConnectionProfile
    from core.session import MqttSession
    from gui.context import AppContext
    from gui.views.topic_tree_view import TopicTreeView

    app = QApplication.instance() or QApplication([])
    settings = QSettings(os.devnull, QSettings.IniFormat)
    context = AppContext(settings)
    session = MqttSession(ConnectionProfile(name="bench", host="127.0.0.1", port=1), buffer=IngestBuffer())
    context.bridge.attach(session)  # never started: the producer thread fills its buffer directly
    view = TopicTreeView(context)
    view.resize(1200, 800)
    view.show()
    names = topics(topic_count)
    # Prime the tree so every topic exists, then expand everything.
    session.buffer.append(MessageRecord(names[0], b"0", received=time.time()))
    for topic in names:
        session.buffer.append(MessageRecord(topic, b"0", received=time.time()))
    context.bridge.flush()
    view.view.expandAll()
    app.processEvents()

    stop = threading.Event()
    fed = [0]

    def produce() -> None:
        start = time.perf_counter()
        i = 0
        while not stop.is_set():
            due = int((time.perf_counter() - start) * rate)
            while i < due:
                topic = names[(i * 7919) % len(names)]
                session.buffer.append(MessageRecord(topic, b"%d.%d" % (i % 100, i % 7), received=time.time(),
                                                    received_mono=time.monotonic()))
                i += 1
            fed[0] = i
            time.sleep(0.002)

    lateness: list[float] = []
    clock = QElapsedTimer()
    probe = QTimer()
    probe.setInterval(5)
    last = [0]

    def on_probe() -> None:
        now = clock.elapsed()
        lateness.append(max(0, now - last[0] - 5))
        last[0] = now

    probe.timeout.connect(on_probe)
    producer = threading.Thread(target=produce, daemon=True)
    applied_before = view.tree.total_messages
    context.bridge.start()
    clock.start()
    probe.start()
    producer.start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.0005)
    stop.set()
    producer.join()
    probe.stop()
    context.bridge.flush()
    applied = view.tree.total_messages - applied_before
    result = {
        "fed": fed[0], "applied": applied, "dropped": session.buffer.stats().dropped,
        "worst_ms": max(lateness) if lateness else 0.0,
        "p99_ms": statistics.quantiles(lateness, n=100)[98] if len(lateness) > 100 else 0.0,
        "probes": len(lateness),
        "rss_mib": psutil.Process().memory_info().rss / 2**20,
    }
    context.bridge.stop()
    view.close()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="GUI feed duration (default 30)")
    parser.add_argument("--rate", type=int, default=20_000, help="GUI feed messages per second (default 20000)")
    parser.add_argument("--gui-topics", type=int, default=2000)
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
        grown, elapsed, kept = bench_memory(100_000, 100, 50)
        rows.append(("RSS growth, 100k topics x 100 msgs x 50 B, default budget",
                     f"{grown:,.0f} MiB ({kept} kept per topic, {elapsed:.0f} s)"))
        grown, elapsed, kept = bench_memory(100_000, 100, 50, budget=2**62)
        rows.append(("RSS growth, same, no budget (100 kept per topic)", f"{grown:,.0f} MiB ({elapsed:.0f} s)"))
    gui = bench_gui(args.seconds, args.rate, args.gui_topics)
    rows.append((f"GUI feed {args.rate}/s for {args.seconds:.0f} s, {args.gui_topics} topics expanded",
                 f"fed {gui['fed']:,}, applied {gui['applied']:,}, dropped {gui['dropped']}"))
    rows.append(("GUI main-thread stall (5 ms probe): worst", f"{gui['worst_ms']:.0f} ms"))
    rows.append(("GUI main-thread stall (5 ms probe): p99", f"{gui['p99_ms']:.0f} ms ({gui['probes']} probes)"))
    width = max(len(name) for name, _ in rows)
    print(f"{'measure':<{width}}  result")
    print(f"{'-' * width}  {'-' * 30}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
