"""Main-thread stalls of the whole window under load: does it keep drawing?

    python -m tests.perf.bench_window_stall [--rate 20000] [--seconds 30] [--load requests|telemetry|both]

The real ``MainWindow`` (offscreen, 1500x950) connects to a Mosquitto on loopback with every
view live: the topic tree expanded with a topic selected (details pane following), the stream
tab following ``+/hello/request``, and the audit feed beside it, recording to SQLite. A 10 ms
``QTimer`` on the main thread is the probe: a stall is how late each timeout fires. The load
generator (its own process, pre-encoded packets, sequence numbers) sends at a fixed rate:

- requests: QoS 1 on ``{region}/hello/request`` over 4 regions, every one audited;
- telemetry: QoS 0 over 2,000 ``{region}/telemetry/device-N/temp`` topics.

After the load, the audit database is read back and every sequence number is checked.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from tests.conftest import MOSQUITTO, MosquittoBroker, free_port
from tests.perf.loadgen import LoadGenerator, request_topics, sequence_of, telemetry_topics

PROBE_MS = 10


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return bool(predicate())


async def _measure(window, context, port: int, load: str, rate: int, seconds: float) -> dict:
    from PySide6.QtCore import Qt, QTimer

    topics = request_topics() if load == "requests" else telemetry_topics()
    qos = 1 if load == "requests" else 0
    count = int(rate * seconds)
    gen = LoadGenerator(port, topics, count, 60, qos=qos, rate=rate)
    gen.prepare()
    stalls: list[float] = []
    last = [time.perf_counter()]
    measuring = [False]

    def probe() -> None:
        now = time.perf_counter()
        if measuring[0]:
            stalls.append(max(0.0, (now - last[0]) * 1000 - PROBE_MS))
        last[0] = now

    timer = QTimer()
    timer.setTimerType(Qt.PreciseTimer)
    timer.setInterval(PROBE_MS)
    timer.timeout.connect(probe)
    timer.start()
    received_before = context.connection.buffer.stats().received
    dropped_before = context.connection.buffer.stats().dropped
    cpu_before = time.process_time()
    last[0] = time.perf_counter()
    measuring[0] = True
    gen.go()
    started = time.monotonic()
    await _wait(lambda: not gen._process.is_alive(), seconds + 30)
    measuring[0] = False
    elapsed = time.monotonic() - started
    cpu = (time.process_time() - cpu_before) / elapsed
    timer.stop()
    # Let the audit writer and the tree catch up, then count.
    tree_target = received_before + count
    await _wait(lambda: context.connection.buffer.stats().received >= tree_target, 30)
    stats = context.connection.buffer.stats()
    audit_missing = None
    if load == "requests":
        db = context.connection.audit_path

        def stored() -> set[int]:
            with sqlite3.connect(db) as conn:
                return {sequence_of(bytes(p)) for (p,) in conn.execute(
                    "SELECT payload FROM messages WHERE topic LIKE '%/hello/request'")} - {None}

        await _wait(lambda: len(stored()) >= count, 60)
        audit_missing = count - len(stored())
    return {
        "load": f"{rate:,} msg/s {load} ({len(topics):,} topics, QoS {qos}), {seconds:g} s",
        "p50": _percentile(stalls, 0.50), "p99": _percentile(stalls, 0.99), "max": max(stalls, default=0.0),
        "mean": statistics.fmean(stalls) if stalls else 0.0,
        "received": stats.received - received_before, "dropped": stats.dropped - dropped_before,
        "sent": gen.sent, "send_rate": gen.send_rate, "audit_missing": audit_missing, "cpu": cpu,
    }


async def _run(port: int, loads: list[str], rate: int, seconds: float, workdir: Path) -> list[dict]:
    from PySide6.QtCore import QSettings, Qt

    from core.profile import ConnectionProfile
    from gui.context import AppContext
    from gui.main_window import MainWindow

    context = AppContext(QSettings(str(workdir / "settings.ini"), QSettings.IniFormat))
    window = MainWindow(context)
    window.resize(1500, 950)
    window.addDockWidget(Qt.RightDockWidgetArea, window.audit_dock)  # streams and audit both on screen
    window.show()
    window.connect_to(ConnectionProfile(name="bench", host="127.0.0.1", port=port))
    ok = await _wait(lambda: context.session.is_connected and context.connection.recorder is not None
                     and context.connection.recorder.wait_ready(0.01), 20)
    if not ok:
        raise RuntimeError(f"cannot connect: {context.session.status.text}")
    results = []
    for load in loads:
        if load == "telemetry":
            # Every telemetry topic exists and the tree is expanded before the clock starts.
            warm = LoadGenerator(port, telemetry_topics(), 2_000, 60, qos=0, rate=20_000)
            warm.start()
            await _wait(lambda: context.workspace.tree.node(telemetry_topics()[-1]) is not None, 20)
            await asyncio.sleep(0.3)
        window.topic_tree.view.expandAll()
        selected = telemetry_topics()[0] if load == "telemetry" else request_topics()[0]
        await _wait(lambda: window.topic_tree.select_topic(selected), 10)
        results.append(await _measure(window, context, port, load, rate, seconds))
    window.grab().save(str(workdir / "window-under-load.png"))
    window.close()
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--load", choices=("requests", "telemetry", "both"), default="both")
    parser.add_argument("--screenshot", default=None, help="save the window as it looked after the load")
    args = parser.parse_args(argv)
    if MOSQUITTO is None:
        print("mosquitto is not installed")
        return 1
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    loads = ["requests", "telemetry"] if args.load == "both" else [args.load]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        # The audit database and settings go to this run's folder, never the user's.
        os.environ["XDG_DATA_HOME"] = str(workdir / "data")
        os.environ["XDG_CONFIG_HOME"] = str(workdir / "config")
        import qasync
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance() or QApplication([])
        broker = MosquittoBroker(port=free_port(), workdir=workdir,
                                 extra_config="allow_anonymous true\nmax_queued_messages 1000000\n")
        broker.start()
        try:
            loop = qasync.QEventLoop(app)
            asyncio.set_event_loop(loop)
            results = loop.run_until_complete(_run(broker.port, loads, args.rate, args.seconds, workdir))
            if args.screenshot:
                Path(args.screenshot).write_bytes((workdir / "window-under-load.png").read_bytes())
        finally:
            broker.stop()
    print(f"\nWhole window, every view live, main-thread timer probe every {PROBE_MS} ms (one run)\n")
    print(f"{'load':58} {'p50':>6} {'p99':>7} {'max':>7} {'received':>10} {'dropped':>8} {'audit lost':>10} {'CPU':>5}")
    for r in results:
        lost = "" if r["audit_missing"] is None else f"{r['audit_missing']:,}"
        print(f"{r['load']:58} {r['p50']:>5.1f} {r['p99']:>6.1f} {r['max']:>6.1f} {r['received']:>10,} "
              f"{r['dropped']:>8,} {lost:>10} {r['cpu']:>4.0%}")
        print(f"{'':58} generator sent {r['sent']:,} at {r['send_rate']:,.0f} msg/s")
    print("\nStall columns in ms: how late a 10 ms timer on the GUI thread fired. Targets: p99 < 33, max < 100.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
