"""How closely a replay keeps the recorded schedule:

    python -m tests.perf.bench_replay [--rate 1000] [--seconds 10]

A SQLite audit with ``--rate`` requests a second over ``--seconds`` is replayed at ``--speed 1`` into a
local Mosquitto by ``eventscope audit replay`` (its own process, as a user runs it); each send's lateness
against its schedule comes from the replay's JSONL results, and an independent subscriber counts arrivals.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.conftest import MOSQUITTO, MosquittoBroker, free_port


def main(argv=None) -> int:
    import paho.mqtt.client as mqtt

    from eventscope.core.requests.rtt_stats import percentile
    from tests.helpers.replay import recorded_audit

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    if MOSQUITTO is None:
        print("mosquitto is not installed")
        return 1
    count = int(args.rate * args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = folder / "audit.sqlite3"
        recorded_audit(db, count, spacing=1 / args.rate)
        broker = MosquittoBroker(port=free_port(), workdir=folder, extra_config="allow_anonymous true\n")
        broker.start()
        arrived = []
        client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.on_message = lambda _c, _u, _m: arrived.append(time.monotonic())
        subscribed = threading.Event()
        client.on_subscribe = lambda *_a: subscribed.set()
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        client.subscribe("us-east/hello/request", 1)
        subscribed.wait(10)
        try:
            result = subprocess.run([sys.executable, "-m", "eventscope", "audit", "replay", "--db", str(db), "--to",
                                     f"bench=mqtt://127.0.0.1:{broker.port}", "--speed", "1", "--format", "jsonl"],
                                    capture_output=True, text=True, timeout=args.seconds * 4 + 60)
            deadline = time.monotonic() + 10
            while len(arrived) < count and time.monotonic() < deadline:
                time.sleep(0.05)  # the last messages in flight
        finally:
            client.loop_stop()
            client.disconnect()
            broker.stop()
    late = sorted(json.loads(line)["late_ms"] for line in result.stdout.splitlines())
    span = arrived[-1] - arrived[0] if len(arrived) > 1 else 0.0
    print(f"\nReplay at --speed 1 of {count:,} requests recorded at {args.rate:,}/s (one run)\n")
    recorded = f"span (recorded {args.seconds:g} s)"
    print(f"{'sent':>8} {'arrived':>8} {'late p50':>9} {'late p99':>9} {'late max':>9} {recorded:>26}")
    print(f"{len(late):>8,} {len(arrived):>8,} {percentile(late, 0.5):>8.2f}  {percentile(late, 0.99):>8.2f}  "
          f"{late[-1] if late else float('nan'):>8.2f}  {span:>24.2f} s")
    print("\nLateness in ms: how long after its scheduled time each message was handed to the session.")
    return 0 if result.returncode == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
