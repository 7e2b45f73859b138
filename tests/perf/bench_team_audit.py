"""The team audit on PostgreSQL beside the SQLite store, on the same records:

    python -m tests.perf.bench_team_audit [--rows 1000000] [--batch 1000]

- inserts per second of one recorder's store (``write_batch``, COPY on PostgreSQL), sustained over
  ``--rows`` requests in batches of ``--batch``;
- three recorders at once into one database, each with the same bridged messages (the mesh join
  under concurrency), and whether every message is one entry with three arrivals;
- at ``--rows`` rows: the feed's first page, a topic search and a payload search.

A PostgreSQL server (Debian's) is started in a temporary folder for the run and stopped by PID.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from tests.conftest import free_port
from tests.helpers.postgres import PostgresServer, find_pg_bin


def _records(count: int, start: float, broker: str = "us-east", offset: float = 0.0) -> list:
    from eventscope.core.records import MessageProperties, MessageRecord

    regions = ("us-east", "us-west", "eu-central", "ap-south")
    return [MessageRecord(f"{regions[i % 4]}/hello/request", f'{{"seq": {i}, "name": "hello"}}'.encode(), qos=1,
                          received=start + i * 0.0001 + offset, broker_id=broker,
                          properties=MessageProperties(response_topic="r", correlation_data=f"c{i}".encode()))
            for i in range(count)]


def _insert_rate(store, records: list, batch: int, broker: str = "us-east") -> float:
    started = time.perf_counter()
    for first in range(0, len(records), batch):
        store.write_batch(records[first:first + batch], broker=broker)
    return len(records) / (time.perf_counter() - started)


def _timed(action) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def main(argv=None) -> int:
    from eventscope.core.audit.postgres import PostgresAuditStore
    from eventscope.core.audit.store import AuditQuery, AuditStore

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--mesh", type=int, default=30_000, help="bridged messages for the three-recorder run")
    args = parser.parse_args(argv)
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
        records = _records(args.rows, start)
        with tempfile.TemporaryDirectory() as tmp:
            sqlite_store = AuditStore(Path(tmp) / "audit.sqlite3", max_rows=args.rows * 2, max_age_seconds=0)
            sqlite_rate = _insert_rate(sqlite_store, records, args.batch)
            server.admin("CREATE DATABASE bench")
            pg_store = PostgresAuditStore(server.url("bench"), max_age_seconds=0)
            pg_rate = _insert_rate(pg_store, records, args.batch)
            results.append((f"one recorder, {args.rows:,} requests in batches of {args.batch:,} (rows/s)",
                            f"{sqlite_rate:,.0f}", f"{pg_rate:,.0f}"))
            server.admin("ANALYZE", "bench")  # the statistics autovacuum keeps on a live database
            for name, query in (("first page (200 newest)", AuditQuery()),
                                ("topic search 'eu-central/hello', first page", AuditQuery(topic="eu-central/hello")),
                                ("payload search '\"seq\": 4242', first page", AuditQuery(text='"seq": 4242,'))):
                sqlite_ms = _timed(lambda q=query: sqlite_store.page_before(q, None, 200))
                pg_ms = _timed(lambda q=query: pg_store.page_before(q, None, 200))
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
    finally:
        server.stop()
        server.remove()
    print("\nAudit stores on the same records (one run, a shared 2-core machine)\n")
    print(f"{'measure':74} {'SQLite':>12} {'PostgreSQL':>20}")
    for name, sqlite_value, pg_value in results:
        print(f"{name:74} {sqlite_value:>12} {pg_value:>20}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
