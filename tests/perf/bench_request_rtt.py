"""Request RTT: Eventscope's in-process requester against ``mosquitto_rr``, plus burst throughput.

Run: ``python -m tests.perf.bench_request_rtt [--requests 1000] [--rr-runs 200] [--burst 5000]``

Starts its own Mosquitto on a free port and an ``eventscope reply`` process (echo), so every
requester below is answered by the same replier over the same broker.

``mosquitto_rr`` has no flag that reports latency (see ``mosquitto_rr --help``), and it is one
process per request. Its row is the wall time of each invocation minus the median start-up
cost of the binary, measured with ``mosquitto_rr --help`` (exec, dynamic loading, exit). What
remains is what a script pays per request with mosquitto_rr: TCP connect, CONNECT/CONNACK,
SUBSCRIBE/SUBACK of the response topic, then the request's own round trip, then DISCONNECT.
Eventscope's rows measure publish-to-reply on an open connection with a monotonic clock
taken on the network thread. The ratio therefore compares the two ways of asking, not two
equal stopwatches.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from eventscope.core.mqtt.ingest import IngestBuffer
from eventscope.core.mqtt.session import MqttSession
from eventscope.core.profile import ConnectionProfile
from eventscope.core.requests.rtt_stats import RttSummary
from eventscope.core.requests.tracker import RequestTracker
from tests.conftest import MOSQUITTO, MosquittoBroker, free_port, wait_until

TOPIC = "us-east/hello/request"


def _start_replier(port: int, log_path: Path) -> subprocess.Popen:
    log = log_path.open("w")
    process = subprocess.Popen([sys.executable, "-m", "eventscope", "reply", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=log)
    wait_until(lambda: "serving" in log_path.read_text() or process.poll() is not None, 20, message="replier")
    if process.poll() is not None:
        raise RuntimeError(f"eventscope reply did not start: {log_path.read_text()}")
    return process


def _timed_runs(command: list[str], runs: int, require_success: bool = True) -> list[float]:
    """Wall time of each run; failed runs are left out (``--help`` exits non-zero, so it is exempt)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - started
        if done.returncode == 0 or not require_success:
            times.append(elapsed)
    return times


def _minus_startup(times: list[float], startup: float) -> RttSummary:
    return RttSummary.from_samples([max(0.0, t - startup) for t in times])


def _row(name: str, summary: RttSummary, note: str = "") -> str:
    ms = lambda v: f"{v * 1e3:9.3f}"  # noqa: E731
    return f"{name:<34} {summary.count:>6} {ms(summary.p50)} {ms(summary.p99)} {ms(summary.maximum)}  {note}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="sequential in-process requests")
    parser.add_argument("--rr-runs", type=int, default=200, help="mosquitto_rr invocations (one process each)")
    parser.add_argument("--cli-runs", type=int, default=30, help="eventscope request invocations (one process each)")
    parser.add_argument("--burst", type=int, default=5000, help="requests in the burst")
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args(argv)
    rr = shutil.which("mosquitto_rr")
    if MOSQUITTO is None or rr is None:
        print("needs mosquitto and mosquitto_rr", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory() as workdir:
        broker = MosquittoBroker(port=free_port(), workdir=Path(workdir))
        broker.start()
        replier = _start_replier(broker.port, Path(workdir) / "reply.log")
        session = MqttSession(ConnectionProfile(host="127.0.0.1", port=broker.port), buffer=IngestBuffer(),
                              buffer_messages=False)
        try:
            session.start()
            assert session.wait_connected(10), session.status
            tracker = RequestTracker(session)

            async def measure() -> tuple[RttSummary, RttSummary]:
                await tracker.burst(TOPIC, b"warm-up", 50, 1)
                sequential = await tracker.burst(TOPIC, lambda i: f"request {i}", args.requests, 1)
                burst = await tracker.burst(TOPIC, lambda i: f"burst {i}", args.burst, args.concurrency, timeout=30)
                return sequential, burst

            sequential, burst = asyncio.run(measure())

            rr_startup = statistics.median(_timed_runs([rr, "--help"], 30, require_success=False))
            rr_command = [rr, "-p", str(broker.port), "-t", TOPIC, "-e", "bench/rr/reply", "-m", "hi", "-W", "5"]
            rr_summary = _minus_startup(_timed_runs(rr_command, args.rr_runs), rr_startup)

            cli = [sys.executable, "-m", "eventscope"]
            cli_startup = statistics.median(_timed_runs([*cli, "--version"], 10))
            cli_summary = _minus_startup(
                _timed_runs([*cli, "request", "--port", str(broker.port), "--topic", TOPIC, "--payload", "hi"],
                            args.cli_runs),
                cli_startup)
        finally:
            session.stop()
            replier.terminate()
            replier.wait(10)
            broker.stop()

    print("Request RTT over Mosquitto on 127.0.0.1, answered by `eventscope reply` (echo). Times in ms.")
    print(f"{'requester':<34} {'n':>6} {'p50':>9} {'p99':>9} {'max':>9}")
    print(_row("eventscope in-process (sequential)", sequential, "open connection"))
    print(_row(f"eventscope burst (C={args.concurrency})", burst, f"{burst.throughput:,.0f} req/s, {burst.failures} failed"))
    print(_row("mosquitto_rr per process", rr_summary, f"minus start-up {rr_startup * 1e3:.1f} ms (--help)"))
    print(_row("eventscope request CLI per process", cli_summary, f"minus start-up {cli_startup * 1e3:.1f} ms (--version)"))
    print()
    print(f"mosquitto_rr / eventscope in-process: p50 x{rr_summary.p50 / sequential.p50:.1f}, "
          f"p99 x{rr_summary.p99 / sequential.p99:.1f}")
    print(f"burst throughput at concurrency {args.concurrency}: {burst.throughput:,.0f} req/s "
          f"vs sequential {1 / sequential.p50:,.0f} req/s (1/p50), "
          f"mosquitto_rr {1 / (rr_summary.p50 + rr_startup):,.0f} req/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
