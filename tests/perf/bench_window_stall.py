"""Main-thread stalls of the whole window under load: does it keep drawing?

    python -m tests.perf.bench_window_stall [--rate 20000] [--seconds 30] [--load requests|telemetry|sparkplug|both]
    python -m tests.perf.bench_window_stall --brokers 3 --rate 5000     # three brokers, each at 5k msg/s
    python -m tests.perf.bench_window_stall --brokers 3 --process-per-broker   # a connection process each
    python -m tests.perf.bench_window_stall --load requests --team-db   # the audit on a local PostgreSQL
    python -m tests.perf.bench_window_stall --load telemetry --rate 200000 --seconds 5 --mqtt 3.1.1   # the ceiling

The real ``MainWindow`` (offscreen, 1500x950) connects to a Mosquitto on loopback with every
view live: the topic tree expanded with a topic selected (details pane following), the stream
tab following ``+/hello/request``, and the audit feed beside it, recording to SQLite (or, with
``--team-db``, to a PostgreSQL server the benchmark starts, its feed following NOTIFY). A 10 ms
``QTimer`` on the main thread is the probe: a stall is how late each timeout fires. The load
generator (its own process, pre-encoded packets, sequence numbers) sends at a fixed rate:

- requests: QoS 1 on ``{region}/hello/request`` over 4 regions, every one audited;
- telemetry: QoS 0 over 2,000 ``{region}/telemetry/device-N/temp`` topics;
- sparkplug: QoS 0 Sparkplug B DDATA by alias (10 metrics each) over 100 devices, after their DBIRTHs,
  so every message is decoded by name on the tick thread and its metrics land in the tree.

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

from eventscope.core.profile import MQTT_V5, MQTT_V311
from tests.conftest import MOSQUITTO, MosquittoBroker, free_port
from tests.perf.gc_pauses import GcPauses
from tests.perf.loadgen import (
    LoadGenerator,
    request_topics,
    sequence_of,
    sparkplug_births,
    sparkplug_topics,
    telemetry_topics,
)

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


def _metric_topic(ddata_topic: str) -> str:
    """The tree node of a device's first metric (see core.workspace.metric_records)."""
    _ns, group, _kind, edge, device = ddata_topic.split("/")
    return f"spBv1.0/{group}/metrics/{edge}/{device}/line/sensor-0"


def publish_births(port: int, births: list[tuple[str, bytes]]) -> None:
    from tests.conftest import publish_raw

    publish_raw(port, births)


def _cpu_seconds(pids: list[int]) -> float:
    import psutil

    return sum(sum(psutil.Process(pid).cpu_times()[:2]) for pid in pids)


async def _measure(window, context, ports: list[int], load: str, rate: int, seconds: float,
                   connection_pids: list[int]) -> dict:
    from PySide6.QtCore import Qt, QTimer

    topics = {"requests": request_topics, "telemetry": telemetry_topics, "sparkplug": sparkplug_topics}[load]()
    qos = 1 if load == "requests" else 0
    count = int(rate * seconds)
    kind = "sparkplug" if load == "sparkplug" else "sequence"
    gens = [LoadGenerator(port, topics, count, 60, qos=qos, rate=rate, kind=kind) for port in ports]
    for gen in gens:
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
    connections = context.connections()

    def totals() -> tuple[int, int]:
        stats = [c.buffer.stats() for c in connections]
        return sum(s.received for s in stats), sum(s.dropped for s in stats) + sum(c.dropped_elsewhere for c in connections)

    received_before, dropped_before = totals()
    cpu_before, children_before = time.process_time(), _cpu_seconds(connection_pids)
    last[0] = time.perf_counter()
    measuring[0] = True
    with GcPauses() as collections:
        for gen in gens:
            gen.go()
        started = time.monotonic()
        await _wait(lambda: not any(gen._process.is_alive() for gen in gens), seconds + 30)
    measuring[0] = False
    elapsed = time.monotonic() - started
    cpu = (time.process_time() - cpu_before) / elapsed
    children_cpu = (_cpu_seconds(connection_pids) - children_before) / elapsed
    timer.stop()
    # Let the audit writers and the tree catch up, then count.
    tree_target = received_before + count * len(gens)
    await _wait(lambda: totals()[0] >= tree_target, 30)
    received, dropped = totals()
    taken_in = time.monotonic() - started  # from the first send until the window held every message
    audit_missing = None
    if load == "requests":

        def stored() -> int:
            # Each broker's generator numbers its own requests: count (broker, sequence number) pairs.
            arrivals = set()
            for location in {str(connection.audit_path) for connection in connections}:
                arrivals |= {(broker, sequence_of(p)) for broker, p in _request_arrivals(location)}
            return len({arrival for arrival in arrivals if arrival[1] is not None})

        await _wait(lambda: stored() >= count * len(gens), 60)
        audit_missing = count * len(gens) - stored()
    where = f" on each of {len(gens)} brokers" if len(gens) > 1 else ""
    return {
        "load": f"{rate:,} msg/s{where} {load} ({len(topics):,} topics, QoS {qos}), {seconds:g} s",
        "p50": _percentile(stalls, 0.50), "p99": _percentile(stalls, 0.99), "max": max(stalls, default=0.0),
        "mean": statistics.fmean(stalls) if stalls else 0.0,
        "received": received - received_before, "dropped": dropped - dropped_before,
        "sent": sum(g.sent for g in gens), "send_rate": sum(g.send_rate for g in gens), "audit_missing": audit_missing,
        "cpu": cpu, "children_cpu": children_cpu, "collections": collections.summary(), "taken_in": taken_in,
        "intake": (received - received_before) / taken_in if taken_in > 0 else 0.0,
    }


def _request_arrivals(location: str) -> list[tuple[str, bytes]]:
    """Every audited request's (broker, payload), from a SQLite file or the team database. A request that
    came in on several brokers with the same content is one entry with a sighting per further broker."""
    query = ("SELECT broker, payload FROM messages WHERE topic LIKE '%/hello/request' UNION ALL "
             "SELECT s.broker, m.payload FROM sightings s JOIN messages m ON m.id = s.message_id "
             "WHERE m.topic LIKE '%/hello/request'")
    if location.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(location + f"?password={os.environ['BENCH_PG_PASSWORD']}") as conn:
            return [(broker, bytes(p)) for broker, p in conn.execute(query)]
    with sqlite3.connect(location) as conn:
        return [(broker, bytes(p)) for broker, p in conn.execute(query)]


async def _run(ports: list[int], loads: list[str], rate: int, seconds: float, workdir: Path,
               team_db: str = "", mqtt_version: int = MQTT_V5, per_broker: bool = False) -> list[dict]:
    from PySide6.QtCore import QSettings, Qt

    from eventscope.core.connections.remote import RemoteConnector
    from eventscope.core.profile import ConnectionProfile
    from eventscope.core.workspace.workspace import Workspace
    from eventscope.gui.context import AppContext
    from eventscope.gui.main_window import MainWindow

    connector = RemoteConnector(per_broker=per_broker)  # the window's own kind, kept here for its process ids
    context = AppContext(QSettings(str(workdir / "settings.ini"), QSettings.IniFormat),
                         workspace=Workspace(connector=connector))
    window = MainWindow(context)
    window.resize(1500, 950)
    window.addDockWidget(Qt.RightDockWidgetArea, window.audit_dock)  # streams and audit both on screen
    window.show()
    if team_db:
        window.audit_feed.use_store(team_db, os.environ["BENCH_PG_PASSWORD"])
    for index, port in enumerate(ports):
        window.add_broker(ConnectionProfile(name=f"bench-{index}", host="127.0.0.1", port=port,
                                            mqtt_version=mqtt_version))
    ok = await _wait(lambda: all(c.session.is_connected and c.recorder is not None and c.recorder.wait_ready(0.01)
                                 for c in context.connections()), 20)
    if not ok:
        raise RuntimeError(f"cannot connect: {[c.session.status.text for c in context.connections()]}")
    results = []
    for load in loads:
        if load == "telemetry":
            # Every telemetry topic exists and the tree is expanded before the clock starts.
            for warm_port in ports:
                LoadGenerator(warm_port, telemetry_topics(), 2_000, 60, qos=0, rate=20_000).start()
            await _wait(lambda: all(context.workspace.tree.node(telemetry_topics()[-1], c.broker_id) is not None
                                    for c in context.connections()), 20)
            await asyncio.sleep(0.3)
        if load == "sparkplug":
            # Every device's BIRTH first, so the DDATA flood is decoded by name into metric nodes.
            for warm_port in ports:
                publish_births(warm_port, sparkplug_births())
            selected = _metric_topic(sparkplug_topics()[0])
            await _wait(lambda: all(context.workspace.tree.node(selected, c.broker_id) is not None
                                    for c in context.connections()), 20)
        window.topic_tree.view.expandAll()
        selected = {"telemetry": telemetry_topics()[0], "requests": request_topics()[0],
                    "sparkplug": _metric_topic(sparkplug_topics()[0])}[load]
        await _wait(lambda: window.topic_tree.select_topic(selected), 10)
        results.append(await _measure(window, context, ports, load, rate, seconds, connector.pids))
    window.grab().save(str(workdir / "window-under-load.png"))
    window.close()
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--load", choices=("requests", "telemetry", "sparkplug", "both"), default="both",
                        help="both = requests then telemetry; sparkplug = DDATA by alias over 100 devices")
    parser.add_argument("--brokers", type=int, default=1, help="brokers in the window, each loaded at --rate")
    parser.add_argument("--screenshot", default=None, help="save the window as it looked after the load")
    parser.add_argument("--mqtt", choices=("5", "3.1.1"), default="5", help="the protocol the window connects with")
    parser.add_argument("--process-per-broker", action="store_true",
                        help="a connection process for each broker instead of one for them all")
    parser.add_argument("--team-db", action="store_true",
                        help="record and show the audit on a local PostgreSQL server (started here) instead of SQLite")
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

        from eventscope.gui.app import create_application

        app = create_application([])  # set up as the app sets up its process
        brokers = []
        for index in range(args.brokers):
            folder = workdir / f"broker{index}"
            folder.mkdir()
            broker = MosquittoBroker(port=free_port(), workdir=folder,
                                     extra_config="allow_anonymous true\nmax_queued_messages 1000000\n")
            broker.start()
            brokers.append(broker)
        server = None
        try:
            team_db = ""
            if args.team_db:
                from tests.helpers.postgres import SUPERUSER_PASSWORD, PostgresServer, find_pg_bin

                server = PostgresServer(find_pg_bin(), free_port())
                server.init()
                server.start()
                server.admin("CREATE DATABASE bench")
                team_db = server.url("bench", password=None)
                os.environ["BENCH_PG_PASSWORD"] = SUPERUSER_PASSWORD
            loop = qasync.QEventLoop(app)
            asyncio.set_event_loop(loop)
            results = loop.run_until_complete(_run([b.port for b in brokers], loads, args.rate, args.seconds, workdir,
                                                   team_db, MQTT_V311 if args.mqtt == "3.1.1" else MQTT_V5,
                                                   args.process_per_broker))
            if args.screenshot:
                Path(args.screenshot).write_bytes((workdir / "window-under-load.png").read_bytes())
        finally:
            for broker in brokers:
                broker.stop()
            if server is not None:
                server.stop()
                server.remove()
    store = "the audit on PostgreSQL" if args.team_db else "the audit on SQLite"
    processes = "a connection process per broker" if args.process_per_broker else "one connection process"
    print(f"\nWhole window on MQTT {args.mqtt}, every view live, {store}, {processes}, main-thread timer probe every "
          f"{PROBE_MS} ms (one run)\n")
    print(f"{'load':68} {'p50':>6} {'p99':>7} {'max':>7} {'received':>10} {'dropped':>8} {'audit lost':>10} {'CPU':>5} "
          f"{'conn. CPU':>9}")
    for r in results:
        lost = "" if r["audit_missing"] is None else f"{r['audit_missing']:,}"
        print(f"{r['load']:68} {r['p50']:>5.1f} {r['p99']:>6.1f} {r['max']:>6.1f} {r['received']:>10,} "
              f"{r['dropped']:>8,} {lost:>10} {r['cpu']:>4.0%} {r['children_cpu']:>8.0%}")
        print(f"{'':68} generator sent {r['sent']:,} at {r['send_rate']:,.0f} msg/s; the window took them in "
              f"{r['taken_in']:.1f} s, {r['intake']:,.0f} msg/s")
        print(f"{'':68} the window's process: {r['collections']}")
    print("\nStall columns in ms: how late a 10 ms timer on the GUI thread fired. Targets: p99 < 33, max < 100.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
