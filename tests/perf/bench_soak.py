"""Soak: the real window on the embedded demo for a long run, under load with topic churn.
Measures resident memory and main-thread stalls every minute.

    python -m tests.perf.bench_soak --minutes 30                       # the issue's soak: 5k msg/s, 20k topics, churn 1k/s
    python -m tests.perf.bench_soak --minutes 3 --topic-budget 50000   # a smaller topic budget, reached sooner
    python -m tests.perf.bench_soak --minutes 5 --separate-broker      # the load on a Mosquitto of its own

The real ``MainWindow`` (offscreen, 1500x950) starts its embedded demo (``window.demo.start()``, as
File → Try the demo does: the demo's broker, its multi-region traffic and replier, the short tour)
with every view live: the topic tree expanded with the tour's topic selected (details pane
following), the stream tab following ``+/hello/request``, and the audit feed beside it, recording
the demo's requests and replies to SQLite. The load generator (``tests/perf/loadgen.py``, its own
processes, pre-encoded packets, encoded ten seconds ahead) sends to the demo's broker:

- steady: ``--rate`` msg/s at QoS 0, round robin over ``--topics`` ``{region}/telemetry/device-N/temp`` topics;
- churn: ``--churn`` msg/s more, each on a topic never seen before (``churn/{region}/device-N/temp``).

The demo's broker (Mosquitto when installed, as the demo has it) takes the full load from the outside
generators without losing a message (measured: 5,000 + 1,000 msg/s, every message reached the window);
``--separate-broker`` moves the load to a Mosquitto of its own, added to the window as a second broker.

The topic tree keeps at most its topic budget of topic levels per broker (``--topic-budget`` sets it
as View → Topic budget… does; else the window's default, 250,000) and evicts the least recently seen
leaves past it. The workspace freezes what is alive for the garbage collector (``gc.freeze``) twice a
second, and frozen objects in reference cycles are never freed: after the run, ``gc.unfreeze()`` and
one full collection count the cyclic garbage that was held, by type.

Every minute one row: RSS of the window's process and of its connection process (psutil), topic
tree nodes and evictions, messages received and dropped by the window, stall p50/p99/max (how late a
10 ms timer on the GUI thread fired) and rows in the audit database. At the end: the table again,
whether RSS grew less than 5 % over the last 20 minutes (the last 2/3 of a shorter run) once the
budget was reached, and whether p99 < 33 ms and max < 100 ms held in every minute. A benchmark, not a
test: it exits 0 either way and prints PASS/FAIL lines. ``tests/gui/test_soak_memory.py`` runs a
2-minute version of the memory check in CI, through ``soak()``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tests.conftest import MOSQUITTO, MosquittoBroker, free_port
from tests.perf.bench_window_stall import PROBE_MS, _percentile, _wait
from tests.perf.loadgen import REGIONS, LoadGenerator, telemetry_topics

if TYPE_CHECKING:
    from eventscope.core.records import MessageRecord

P99_TARGET_MS = 33.0
MAX_TARGET_MS = 100.0
RSS_GROWTH_LIMIT = 0.05
GROWTH_MINUTES = 20  # the memory check covers the last 20 minutes, or the last 2/3 of a shorter run
ENCODE_AHEAD_SECONDS = 10.0  # the generators hold about three such batches, whatever the run's length
LOAD_PREFIXES = (*(f"{region}/telemetry/" for region in REGIONS), "churn/")
MIB = 1024 * 1024


@dataclass(frozen=True)
class SoakLoad:
    """What one soak runs: its length, the load and the window's topic budget (None: the window's default)."""

    minutes: int = 30
    rate: int = 5_000
    topics: int = 20_000
    churn: int = 1_000
    topic_budget: int | None = None
    separate_broker: bool = False  # the load on a Mosquitto started here, added as a second broker
    row_seconds: float = 60.0  # one row per this many seconds ("a minute")

    @property
    def seconds(self) -> float:
        return self.minutes * self.row_seconds


@dataclass(frozen=True)
class MinuteRow:
    """The state at the end of one minute (minute 0: when the load started) and that minute's stalls."""

    minute: int
    window_rss: int  # bytes, the window's process
    child_rss: int  # bytes, its connection process
    tree_nodes: int
    evicted: int | None  # topics the budget evicted so far (None: this build's tree has no budget)
    received: int  # by the window, this minute, every broker
    dropped: int
    stalls: int  # probe timeouts this minute
    p50: float
    p99: float
    max: float
    audit_rows: int
    history: int = 0  # counted bytes of message history the fullest broker's tree keeps
    history_kept: int = 0  # messages a topic keeps at most now, in that tree (fewer once the history budget is full)


@dataclass
class SoakResult:
    load: SoakLoad
    broker: str  # where the load went, as the output says it
    budget: int | None  # topic levels per broker's tree, as the window's forest has it (None: no budget in this build)
    rows: list[MinuteRow] = field(default_factory=list)
    sent: int = 0
    load_received: int = 0
    frozen_garbage: dict[str, int] | None = None  # cyclic garbage gc.freeze held, found after the run: by type

    @property
    def load_lost(self) -> int:
        return self.sent - self.load_received

    @property
    def dropped(self) -> int:
        return sum(row.dropped for row in self.rows)

    @property
    def budget_reached_minute(self) -> int | None:
        """The first minute by whose end the budget had evicted topics."""
        return next((row.minute for row in self.rows if row.evicted), None)

    def growth_span(self) -> tuple[int, int] | None:
        """The minutes the memory check covers: the last 20 (or 2/3 of the run), from the budget's first
        eviction at the earliest. None if the budget was reached too late to leave a minute."""
        last = self.rows[-1].minute
        first = last - max(1, min(GROWTH_MINUTES, 2 * last // 3))
        reached = self.budget_reached_minute
        if reached is not None:
            first = max(first, reached)
        return (first, last) if first < last else None

    def rss_growth(self, process: str = "window") -> float | None:
        """Relative RSS growth of ``process`` ("window" or "child") over ``growth_span()``."""
        span = self.growth_span()
        if span is None:
            return None
        before, after = (getattr(self.rows[m], f"{process}_rss") for m in span)
        return after / before - 1.0

    def stall_misses(self) -> tuple[list[int], list[int]]:
        """Minutes whose p99 missed its target, and minutes whose max did."""
        measured = [row for row in self.rows if row.stalls]
        return ([r.minute for r in measured if r.p99 >= P99_TARGET_MS],
                [r.minute for r in measured if r.max >= MAX_TARGET_MS])


class StallProbe:
    """A 10 ms precise timer on the GUI thread; a stall is how late each timeout fires. Kept per minute."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self._stalls: list[float] = []
        self._last = 0.0
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(PROBE_MS)
        self._timer.timeout.connect(self._fired)

    def start(self) -> None:
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def take(self) -> list[float]:
        """The stalls since the last take, in ms."""
        stalls, self._stalls = self._stalls, []
        return stalls

    def _fired(self) -> None:
        now = time.perf_counter()
        self._stalls.append(max(0.0, (now - self._last) * 1000 - PROBE_MS))
        self._last = now


class LoadCounter:
    """A workspace tap (tick thread): messages of the load generators that reached the window."""

    def __init__(self) -> None:
        self.received = 0

    def note(self, record: MessageRecord) -> None:
        if record.topic.startswith(LOAD_PREFIXES):
            self.received += 1


def set_topic_budget(context, topic_budget: int | None) -> bool:
    """Give the window ``topic_budget`` as View → Topic budget… does (not saved). False if this build's window
    has no topic budget."""
    if not hasattr(context, "set_topic_budget"):
        return False
    if topic_budget is not None:
        context.set_topic_budget(topic_budget, save=False)
    return True


def audit_rows(locations: set[str]) -> int:
    """Rows in the audit databases (read-only; called off the GUI thread)."""
    total = 0
    for location in locations:
        try:
            with sqlite3.connect(f"file:{location}?mode=ro", uri=True, timeout=5) as conn:
                total += conn.execute("SELECT count(*) FROM messages").fetchone()[0]
        except sqlite3.Error:
            pass  # not created yet
    return total


def frozen_garbage() -> dict[str, int]:
    """Unfreeze and collect once, keeping what the collection finds unreachable: the cyclic garbage that
    gc.freeze had kept alive, counted by type (then freed)."""
    flags = gc.get_debug()
    gc.unfreeze()
    gc.set_debug(flags | gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        by_type: dict[str, int] = {}
        for item in gc.garbage:
            name = type(item).__qualname__
            by_type[name] = by_type.get(name, 0) + 1
    finally:
        gc.garbage.clear()
        gc.set_debug(flags)
    gc.collect()  # now freed
    return dict(sorted(by_type.items(), key=lambda kv: -kv[1]))


def _totals(context) -> tuple[int, int]:
    """Messages received and dropped by the window so far, every broker."""
    connections = context.connections()
    stats = [c.buffer.stats() for c in connections]
    return sum(s.received for s in stats), sum(s.dropped for s in stats) + sum(c.dropped_elsewhere for c in connections)


def _ready(connection) -> bool:
    return (connection.session.is_connected and connection.recorder is not None
            and connection.recorder.wait_ready(0.01))


async def soak(load: SoakLoad, workdir: Path, report: Callable[[str], None] = print) -> SoakResult:
    """Run one soak in this process (a QApplication and a qasync loop must be running); ``report`` gets
    the setup, one line per minute and the summary."""
    import psutil
    from PySide6.QtCore import QSettings, Qt

    from eventscope.core.connections.remote import RemoteConnector
    from eventscope.core.profile import ConnectionProfile
    from eventscope.core.workspace.workspace import Workspace
    from eventscope.gui.context import AppContext
    from eventscope.gui.demo_tour import TOUR_TOPIC
    from eventscope.gui.in_window_demo import DEMO_BROKER_NAME
    from eventscope.gui.main_window import MainWindow

    connector = RemoteConnector()  # the window's own kind, kept here for its process id
    context = AppContext(QSettings(str(workdir / "settings.ini"), QSettings.Format.IniFormat),
                         workspace=Workspace(connector=connector))
    has_budget = set_topic_budget(context, load.topic_budget)
    window = MainWindow(context)
    window.resize(1500, 950)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, window.audit_dock)  # streams and audit both on screen
    window.show()
    generators: list[LoadGenerator] = []  # the measured load
    started_generators: list[LoadGenerator] = []  # every one, stopped at the end whatever happened
    load_broker: MosquittoBroker | None = None
    # Audit counts off the GUI thread, on a plain thread: qasync's default executor runs QThreads, which
    # abort the process at exit if still alive.
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="soak-audit-count")
    try:
        started = window.demo.start()
        if started is None:
            raise RuntimeError("the window did not start its demo")
        environment = await asyncio.wrap_future(started)
        if not await _wait(lambda: (c := context.workspace.broker(DEMO_BROKER_NAME)) is not None and _ready(c), 30):
            statuses = [c.session.status.text for c in context.connections()]
            raise RuntimeError(f"the window did not connect to its demo: {statuses}")
        demo_broker = environment.broker
        where = f"the demo's own broker ({demo_broker.backend}, {demo_broker.host}:{demo_broker.port})"
        if load.separate_broker:
            if MOSQUITTO is None:
                raise RuntimeError("--separate-broker needs Mosquitto")
            folder = workdir / "load-broker"
            folder.mkdir()
            load_broker = MosquittoBroker(port=free_port(), workdir=folder,
                                          extra_config="allow_anonymous true\nmax_queued_messages 1000000\n")
            load_broker.start()
            window.add_broker(ConnectionProfile(name="load", host="127.0.0.1", port=load_broker.port))
            if not await _wait(lambda: all(_ready(c) for c in context.connections()), 30):
                raise RuntimeError("the window did not connect to the load's broker")
            port = load_broker.port
            where = f"a Mosquitto started here (127.0.0.1:{port}), a second broker beside the demo's"
        else:
            port = demo_broker.port_for(4)  # the generator speaks MQTT 3.1.1

        counter = LoadCounter()
        context.workspace.add_tap(counter.note)
        # Every steady topic and the churn's region levels exist before the tree is expanded and the clock starts.
        steady_topics = telemetry_topics(load.topics)
        warm_topics = steady_topics + [f"churn/{region}/warm-up/temp" for region in REGIONS]
        warm_up = LoadGenerator(port, warm_topics, len(warm_topics), 60, qos=0, rate=20_000)
        started_generators.append(warm_up)
        warm_up.start()
        if not await _wait(lambda: counter.received >= len(warm_topics), 60):
            raise RuntimeError(f"warm-up: {counter.received:,} of {len(warm_topics):,} messages reached the window")
        window.topic_tree.view.expandAll()
        await _wait(lambda: window.topic_tree.select_topic(TOUR_TOPIC), 20)

        seconds = load.seconds
        steady = LoadGenerator(port, steady_topics, int(load.rate * seconds), 60, qos=0, rate=load.rate,
                               batch_seconds=ENCODE_AHEAD_SECONDS)
        generators.append(steady)
        if load.churn:
            churn = LoadGenerator(port, [], int(load.churn * seconds), 60, qos=0, rate=load.churn, kind="churn",
                                  batch_seconds=ENCODE_AHEAD_SECONDS)
            generators.append(churn)
        for generator in generators:
            started_generators.append(generator)
            generator.prepare()
        budget = getattr(context.workspace.tree, "topic_budget", None) if has_budget else None
        result = SoakResult(load, where, budget)
        report(_setup_text(result, load))
        report(_header())

        window_process = psutil.Process(os.getpid())
        child_process = psutil.Process(connector.pid)
        loop = asyncio.get_running_loop()
        probe = StallProbe()
        received_before, dropped_before = _totals(context)
        load_before = counter.received

        async def row(minute: int, stalls: list[float]) -> MinuteRow:
            nonlocal received_before, dropped_before
            received, dropped = _totals(context)
            locations = {str(c.audit_path) for c in context.connections() if c.audit_path is not None}
            evicted = getattr(context.workspace.tree, "evicted_total", 0) if result.budget is not None else None
            measured = MinuteRow(
                minute, window_process.memory_info().rss, child_process.memory_info().rss, len(context.workspace.tree),
                evicted, received - received_before, dropped - dropped_before, len(stalls),
                _percentile(stalls, 0.50), _percentile(stalls, 0.99), max(stalls, default=0.0),
                await loop.run_in_executor(reader, audit_rows, locations))  # a count must not stall the GUI thread
            received_before, dropped_before = received, dropped
            use = context.workspace.tree.history_use() if hasattr(context.workspace.tree, "history_use") else {}
            if use:
                history, kept = max(use.values())
                measured = replace(measured, history=history, history_kept=kept)
            return measured

        result.rows.append(await row(0, []))
        report(_row_text(result.rows[-1]))
        probe.start()
        for generator in generators:
            generator.go()
        started_at = time.monotonic()
        for minute in range(1, load.minutes + 1):
            await asyncio.sleep(max(0.0, started_at + minute * load.row_seconds - time.monotonic()))  # the clock
            result.rows.append(await row(minute, probe.take()))
            report(_row_text(result.rows[-1]))
        probe.stop()

        await _wait(lambda: not any(g._process.is_alive() for g in generators), 60)
        result.sent = sum(g.sent for g in generators)
        await _wait(lambda: counter.received - load_before >= result.sent, 60)  # the window catches up
        result.load_received = counter.received - load_before
        # The tick thread freezes twice a second; stopped, it cannot freeze between the unfreeze and the collection.
        context.workspace.stop()
        result.frozen_garbage = frozen_garbage()
        return result
    finally:
        for generator in started_generators:
            generator.stop()
        reader.shutdown()
        window.close()
        closing = getattr(window, "closing", None)
        if closing is not None:
            # Final audit commits, disconnects, then the demo's end, on a worker thread. Waited for here, not
            # on the loop: with its last window closed the application quits, and that stops the qasync loop.
            closing.result(60)
        if load_broker is not None:
            load_broker.stop()


def _mib(value: int) -> str:
    return f"{value / MIB:,.1f}"


def _setup_text(result: SoakResult, load: SoakLoad) -> str:
    if result.budget is not None:
        budget = f"topic budget {result.budget:,} levels per broker's tree" + (
            "" if load.topic_budget is not None else " (the window's default)")
    else:
        ignored = " (--topic-budget ignored)" if load.topic_budget is not None else ""
        budget = f"no topic budget in this build's tree{ignored}: it grows with every new topic"
    churn = f" + {load.churn:,} msg/s on new topics (churn)" if load.churn else ""
    return (f"\nSoak: the whole window (offscreen, 1500x950, every view live, the audit on SQLite) on the embedded "
            f"demo, {load.minutes} x {load.row_seconds:g} s\n"
            f"Load: {load.rate:,} msg/s over {load.topics:,} topics{churn}, QoS 0, to {result.broker}\n"
            f"Tree: {budget}\n")


def _header() -> str:
    return (f"{'minute':>6} {'window MiB':>10} {'conn. MiB':>9} {'tree nodes':>10} {'evicted':>9} {'received':>9} "
            f"{'dropped':>7} {'p50':>5} {'p99':>6} {'max':>6} {'audit rows':>10} {'history MiB':>11} {'kept':>4}")


def _row_text(row: MinuteRow) -> str:
    stalls = (f"{row.p50:>5.1f} {row.p99:>6.1f} {row.max:>6.1f}" if row.stalls
              else f"{'-':>5} {'-':>6} {'-':>6}")
    evicted = "-" if row.evicted is None else f"{row.evicted:,}"
    received = f"{row.received:,}" if row.minute else "-"
    dropped = f"{row.dropped:,}" if row.minute else "-"
    return (f"{row.minute:>6} {_mib(row.window_rss):>10} {_mib(row.child_rss):>9} {row.tree_nodes:>10,} {evicted:>9} "
            f"{received:>9} {dropped:>7} {stalls} {row.audit_rows:>10,} {_mib(row.history):>11} {row.history_kept:>4}")


def summary_text(result: SoakResult) -> str:
    """The table and the verdicts, as the benchmark prints them at the end."""
    lines = [_setup_text(result, result.load), _header(), *(_row_text(row) for row in result.rows), ""]
    reached = result.budget_reached_minute
    if result.budget is None:
        lines.append("Topic budget: none in this build's window, so the tree grows with every new topic.")
    elif reached is None:
        lines.append("Topic budget: not reached during the run (nothing was evicted).")
    else:
        lines.append(f"Topic budget: reached in minute {reached} (evictions started).")
    span = result.growth_span()
    limit = f"< {RSS_GROWTH_LIMIT:.0%}"
    for process, name in (("window", "Window process"), ("child", "Connection process")):
        if span is None:
            lines.append(f"FAIL  {name} RSS: the budget was reached too late to leave a minute to measure")
            continue
        before, after = (getattr(result.rows[m], f"{process}_rss") for m in span)
        growth = result.rss_growth(process)
        assert growth is not None
        verdict = "PASS" if growth < RSS_GROWTH_LIMIT else "FAIL"
        lines.append(f"{verdict}  {name} RSS over minutes {span[0]}-{span[1]}: {_mib(before)} -> {_mib(after)} MiB, "
                     f"{growth:+.1%} ({limit})")
    p99_misses, max_misses = result.stall_misses()
    measured = [row for row in result.rows if row.stalls]
    worst_p99 = max(measured, key=lambda r: r.p99, default=None)
    worst_max = max(measured, key=lambda r: r.max, default=None)
    for misses, target, worst, value in ((p99_misses, f"p99 < {P99_TARGET_MS:g} ms", worst_p99, "p99"),
                                         (max_misses, f"max < {MAX_TARGET_MS:g} ms", worst_max, "max")):
        where = f"worst {getattr(worst, value):.1f} ms in minute {worst.minute}" if worst is not None else "no samples"
        missed = f"; missed in minute{'s' if len(misses) > 1 else ''} {', '.join(map(str, misses))}" if misses else ""
        lines.append(f"{'FAIL' if misses else 'PASS'}  Stall {target} in every minute ({where}{missed})")
    lines.append(f"{'FAIL' if result.load_lost or result.dropped else 'PASS'}  Messages: the generators sent "
                 f"{result.sent:,}, {result.load_received:,} reached the window ({result.load_lost:,} lost), "
                 f"{result.dropped:,} dropped by the window")
    if result.frozen_garbage is not None:
        total = sum(result.frozen_garbage.values())
        kinds = ", ".join(f"{name} {count:,}" for name, count in list(result.frozen_garbage.items())[:6])
        lines.append(f"After the run, gc.unfreeze() and a full collection found {total:,} unreachable objects: cyclic "
                     f"garbage that gc.freeze had kept alive{f' ({kinds})' if kinds else ''}.")
    lines.append(f"\nStall columns in ms: how late a {PROBE_MS} ms timer on the GUI thread fired. Targets: "
                 f"p99 < {P99_TARGET_MS:g}, max < {MAX_TARGET_MS:g}, in every minute. RSS in MiB at the end of each minute "
                 "(minute 0: when the load started); conn. = the window's connection process. History: what the "
                 "fullest broker's tree keeps, as its budget counts it, and how many messages a topic keeps.")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, default=30, help="length of the load; one row per minute")
    parser.add_argument("--rate", type=int, default=5_000, help="steady msg/s, round robin over --topics")
    parser.add_argument("--topics", type=int, default=20_000)
    parser.add_argument("--churn", type=int, default=1_000, help="msg/s more, each on a topic never seen before")
    parser.add_argument("--topic-budget", type=int, default=None,
                        help="topic levels per broker's tree (default: the tree's own default)")
    parser.add_argument("--separate-broker", action="store_true",
                        help="send the load to a Mosquitto started here, added beside the demo's broker")
    args = parser.parse_args(argv)
    if args.minutes < 1:
        parser.error("--minutes must be at least 1")
    load = SoakLoad(args.minutes, args.rate, args.topics, args.churn, args.topic_budget, args.separate_broker)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        # The audit database and settings go to this run's folder, never the user's.
        os.environ["XDG_DATA_HOME"] = str(workdir / "data")
        os.environ["XDG_CONFIG_HOME"] = str(workdir / "config")
        import qasync

        from eventscope.gui.app import create_application

        app = create_application([])  # set up as the app sets up its process
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        result = loop.run_until_complete(soak(load, workdir, lambda line: print(line, flush=True)))
    print(summary_text(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
