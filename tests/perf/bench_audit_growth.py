"""The audit's write as its database grows: ``write_batch`` in µs a message, step by step into one file.

    python -m tests.perf.bench_audit_growth [--rows 1000000] [--step 200000]

60 B telemetry payloads over 2,000 topics in batches of 1,000 (the tick's batch at 30k msg/s), each
step's messages received at one instant, so the mesh check holds every row of the last steps (its
10-second window) as it would at a high rate. One run; the SQLite file is in a temporary folder.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from eventscope.core.audit.store import AuditStore
from eventscope.core.records import MessageRecord
from tests.perf.bench_stages import TICK_BATCH
from tests.perf.loadgen import payload_for, telemetry_topics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--step", type=int, default=200_000)
    args = parser.parse_args(argv)
    topics = telemetry_topics(2_000)
    results: list[tuple[int, float]] = []
    with tempfile.TemporaryDirectory() as folder:
        store = AuditStore(Path(folder) / "growth.sqlite3")
        try:
            written = 0
            while written < args.rows:
                now, mono = time.time(), time.monotonic()
                records = [MessageRecord(topics[i % len(topics)], payload_for(written + i, 60), 0, False, now, mono,
                                         broker_id="growth") for i in range(args.step)]
                started = time.perf_counter()
                for first in range(0, len(records), TICK_BATCH):
                    store.write_batch(records[first:first + TICK_BATCH], "growth")
                elapsed = time.perf_counter() - started
                written += len(records)
                results.append((written, elapsed / len(records) * 1e6))
        finally:
            store.close()
    print(f"\nThe audit's write_batch as the file grows: {args.step:,}-row steps, batches of {TICK_BATCH:,} (one run)\n")
    print(f"{'rows in the file':>18} {'µs/msg':>8} {'msg/s':>9}")
    for rows, micros in results:
        print(f"{rows:>18,} {micros:>8.2f} {1e6 / micros:>9,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
