"""The team audit on PostgreSQL beside the SQLite store, on the same records:

    python -m tests.perf.bench_team_audit [--rows 1000000] [--batch 1000]

- inserts per second of one recorder's store (``write_batch``, COPY on PostgreSQL), sustained over
  ``--rows`` requests in batches of ``--batch``;
- three recorders at once into one database, each with the same bridged messages (the mesh join
  under concurrency), and whether every message is one entry with three arrivals;
- at ``--rows`` rows: the feed's first page, a topic search and a payload search (as the window reads them:
  each row with a preview of its payload), and the database's size;
- ``--large-percent 1``: that share of the requests carries a ``--large-bytes`` JSON body (100 KB: a
  normal large request, kept whole by the audit) instead of the ~30-byte default;
- live (``--live-seconds``): three Mosquittos, each with its own ``eventscope audit record`` process
  into the one database, each loaded at ``--live-rate`` QoS 1 requests/s by a pre-encoded generator with
  the same numbered messages (as a bridged mesh delivers them): every message must be one entry with
  three arrivals, and the sequence numbers count what was lost.

A PostgreSQL server (Debian's) is started in a temporary folder for the run and stopped by PID.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

from tests.conftest import MosquittoBroker, free_port
from tests.helpers.postgres import SUPERUSER_PASSWORD, PostgresServer, find_pg_bin
from tests.perf.loadgen import LoadGenerator, request_topics


def _records(count: int, start: float, broker: str = "us-east", offset: float = 0.0, large_every: int = 0,
             large_bytes: int = 0) -> list:
    """Numbered JSON requests; with ``large_every``, every that many carries a ``large_bytes`` body of
    random (incompressible, as TOAST would otherwise flatter PostgreSQL) base64 text."""
    from eventscope.core.records import MessageProperties, MessageRecord

    regions = ("us-east", "us-west", "eu-central", "ap-south")
    filler = base64.b64encode(random.Random(7).randbytes(large_bytes))[:large_bytes] if large_every else b""

    def payload(i: int) -> bytes:
        if large_every and i % large_every == large_every - 1:
            return f'{{"seq": {i}, "name": "hello", "body": "'.encode() + filler + b'"}'
        return f'{{"seq": {i}, "name": "hello"}}'.encode()

    return [MessageRecord(f"{regions[i % 4]}/hello/request", payload(i), qos=1,
                          received=start + i * 0.0001 + offset, broker_id=broker,
                          properties=MessageProperties(response_topic="r", correlation_data=f"c{i}".encode()))
            for i in range(count)]


def _insert_rate(store, records: list, batch: int, broker: str = "us-east") -> float:
    started = time.perf_counter()
    for first in range(0, len(records), batch):
        store.write_batch(records[first:first + batch], broker=broker)
    return len(records) / (time.perf_counter() - started)


def _timed(action, repeat: int = 5) -> float:
    """Milliseconds ``action`` takes, the median of ``repeat`` runs (one run is at the mercy of a shared machine)."""
    took = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        took.append((time.perf_counter() - started) * 1000)
    return sorted(took)[len(took) // 2]


def main(argv=None) -> int:
    import psycopg

    from eventscope.core.audit.postgres import PostgresAuditStore
    from eventscope.core.audit.store import PAYLOAD_PREVIEW_BYTES, AuditQuery, AuditStore

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--mesh", type=int, default=30_000, help="bridged messages for the three-recorder run")
    parser.add_argument("--live-seconds", type=float, default=20.0, help="the live run's length (0: skip it)")
    parser.add_argument("--live-rate", type=int, default=10_000, help="QoS 1 requests/s into each broker")
    parser.add_argument("--large-percent", type=float, default=0.0,
                        help="share of requests (in %%) with a --large-bytes JSON body (default 0)")
    parser.add_argument("--large-bytes", type=int, default=100_000, help="a large request's size (default 100000)")
    args = parser.parse_args(argv)
    large_every = round(100 / args.large_percent) if args.large_percent > 0 else 0
    bin_dir = find_pg_bin()
    if bin_dir is None:
        print("PostgreSQL's server is not installed (apt-get install postgresql)")
        return 1
    server = PostgresServer(bin_dir, free_port())
    server.init()
    server.start()
    results: list[tuple[str, str, str]] = []
    try:
        start = time.time()
        records = _records(args.rows, start, large_every=large_every, large_bytes=args.large_bytes)
        payload_bytes = sum(len(r.payload) for r in records)
        rare = range(5, args.rows, max(1, args.rows // 10))  # ten rows on topics of their own, for a rare search
        for k, i in enumerate(rare):
            records[i] = replace(records[i], topic=f"ap-south/rare/device-{k}")
        with tempfile.TemporaryDirectory() as tmp:
            sqlite_store = AuditStore(Path(tmp) / "audit.sqlite3", max_rows=args.rows * 2, max_age_seconds=0)
            sqlite_rate = _insert_rate(sqlite_store, records, args.batch)
            server.admin("CREATE DATABASE bench")
            pg_store = PostgresAuditStore(server.url("bench"), max_age_seconds=0)
            pg_rate = _insert_rate(pg_store, records, args.batch)
            mix = f", {args.large_percent:g}% of {args.large_bytes:,} B" if large_every else ""
            results.append((f"one recorder, {args.rows:,} requests{mix} in batches of {args.batch:,} (rows/s)",
                            f"{sqlite_rate:,.0f}", f"{pg_rate:,.0f}"))
            sqlite_store.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            sqlite_size = (Path(tmp) / "audit.sqlite3").stat().st_size
            with psycopg.connect(server.url("bench")) as conn:
                pg_size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
            results.append((f"database size, {payload_bytes / 1e6:,.0f} MB of payloads (MB)",
                            f"{sqlite_size / 1e6:,.0f}", f"{pg_size / 1e6:,.0f}"))
            server.admin("ANALYZE", "bench")  # the statistics autovacuum keeps on a live database
            for name, query in (("first page (200 newest)", AuditQuery()),
                                ("topic search 'eu-central/hello', first page", AuditQuery(topic="eu-central/hello")),
                                (f"topic search 'rare/device' ({len(rare)} rows)", AuditQuery(topic="rare/device")),
                                ("payload search '\"seq\": 4242', first page", AuditQuery(text='"seq": 4242,'))):
                sqlite_ms = _timed(lambda q=query: sqlite_store.page_before(q, None, 200, preview=PAYLOAD_PREVIEW_BYTES))
                pg_ms = _timed(lambda q=query: pg_store.page_before(q, None, 200, preview=PAYLOAD_PREVIEW_BYTES))
                results.append((f"{name} at {args.rows:,} rows (ms)", f"{sqlite_ms:,.1f}", f"{pg_ms:,.1f}"))
            sqlite_store.close()
            pg_store.close()

        server.admin("CREATE DATABASE mesh")
        url = server.url("mesh")
        PostgresAuditStore(url).close()  # the schema, before the recorders race for it
        brokers = ("us-east", "us-west", "eu-central")
        rates: list[float] = []

        def recorder(index: int, broker: str) -> None:
            store = PostgresAuditStore(url, max_age_seconds=0)
            rates.append(_insert_rate(store, _records(args.mesh, start, broker, index * 0.002), args.batch, broker))
            store.close()

        threads = [threading.Thread(target=recorder, args=(n, b)) for n, b in enumerate(brokers)]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
        reader = PostgresAuditStore.open_reader(url)
        entries = reader.count()
        rows = [r for chunk in reader.iter_rows() for r in chunk]
        three = sum(1 for r in rows if len(r.path) == 3)
        reader.close()
        results.append((f"three recorders x {args.mesh:,} bridged messages at once (messages/s in all)", "",
                        f"{3 * args.mesh / elapsed:,.0f}"))
        results.append(("  entries / entries with three arrivals / lost", "",
                        f"{entries:,} / {three:,} / {args.mesh - entries:,}"))
        if args.live_seconds:
            results.extend(_live(server, args.live_rate, args.live_seconds))
    finally:
        server.stop()
        server.remove()
    print("\nAudit stores on the same records (one run, a shared 2-core machine)\n")
    print(f"{'measure':74} {'SQLite':>12} {'PostgreSQL':>20}")
    for name, sqlite_value, pg_value in results:
        print(f"{name:74} {sqlite_value:>12} {pg_value:>20}")
    return 0


def _live(server: PostgresServer, rate: int, seconds: float) -> list[tuple[str, str, str]]:
    """Three brokers x ``rate`` QoS 1 requests/s, each recorded by its own recorder process into one database."""
    import psycopg

    server.admin("CREATE DATABASE live")
    url = server.url("live", password=None)
    count = int(rate * seconds)
    regions = ("us-east", "us-west", "eu-central")
    env = {**os.environ, "BENCH_PG_PASSWORD": SUPERUSER_PASSWORD}
    with tempfile.TemporaryDirectory() as tmp:
        brokers, recorders = [], []
        try:
            for region in regions:
                folder = Path(tmp) / region
                folder.mkdir()
                broker = MosquittoBroker(port=free_port(), workdir=folder,
                                         extra_config="allow_anonymous true\nmax_queued_messages 1000000\n")
                broker.start()
                brokers.append(broker)
                recorder = subprocess.Popen(
                    [sys.executable, "-m", "eventscope", "audit", "record", "--broker",
                     f"{region}=mqtt://127.0.0.1:{broker.port}", "-t", "+/hello/request", "--db", url,
                     "--db-password-env", "BENCH_PG_PASSWORD", "--max-age", "7d"],
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
                recorders.append(recorder)
                if "audit recorder ready" not in (recorder.stdout.readline() if recorder.stdout else ""):
                    raise RuntimeError(f"the {region} recorder did not start")
            generators = [LoadGenerator(b.port, request_topics(), count, 60, qos=1, rate=rate) for b in brokers]
            for generator in generators:
                generator.prepare()
            for generator in generators:
                generator.go()
            for generator in generators:
                generator.wait(seconds + 60)
            sent = sum(g.sent for g in generators)
            send_rate = sum(g.send_rate for g in generators)
            query = ("SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM sightings), "
                     "(SELECT count(DISTINCT substring(convert_from(payload, 'UTF8') for 10)) FROM messages)")
            with psycopg.connect(server.url("live")) as conn:
                deadline = time.monotonic() + 120
                while True:  # until every recorder has written what it received (or two minutes)
                    entries, sightings, unique = conn.execute(query).fetchone()
                    if entries + sightings >= 3 * count or time.monotonic() > deadline:
                        break
                    time.sleep(0.5)
        finally:
            for recorder in recorders:
                recorder.terminate()
                recorder.wait(60)
            for broker in brokers:
                broker.stop()
    return [(f"live: 3 brokers x {rate:,} QoS 1 requests/s for {seconds:g} s, a recorder process each", "",
             f"sent {sent:,} at {send_rate:,.0f}/s"),
            ("  entries / arrivals recorded (of 3 per message) / messages lost", "",
             f"{entries:,} / {entries + sightings:,} / {count - unique:,}")]


if __name__ == "__main__":
    raise SystemExit(main())
