"""``eventscope bench`` as a real process against real Mosquitto brokers, checked against independent clients."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from eventscope.core.profile import ConnectionProfile
from eventscope.core.profiles.store import ProfileStore, StoredProfile
from tests.conftest import free_port, publish_raw, wait_until
from tests.helpers.cli import EVENTSCOPE, run

LATENCY_KEYS = {"p50", "p90", "p99", "p999", "max"}
PUBSUB_KEYS = {"sent", "received", "lost", "duplicates", "reordered", "rate", "latency_ms"}
PUB_KEYS = {"sent", "rate", "send_rate", "offered_rate", "limit", "latency_ms"}
SUB_KEYS = {"received", "lost", "duplicates", "reordered", "rate", "latency_ms"}
REQUEST_KEYS = {"sent", "replies", "timeouts", "rate", "rtt_ms"}


def bench(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return run("bench", *args, timeout=timeout)


def report(result: subprocess.CompletedProcess) -> dict:
    assert "Traceback" not in result.stderr, result.stderr
    return json.loads(result.stdout)


def start_bench(tmp_path: Path, name: str, *args: str) -> tuple[subprocess.Popen, Path, Path]:
    """A bench in the background, its stdout and stderr in files (read while it runs)."""
    out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen([*EVENTSCOPE, "bench", *args], stdout=stdout, stderr=stderr)
    return process, out, err


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(10)


def read_hgrm(path: Path) -> tuple[list[tuple[float, float, int]], float, float]:
    """HdrHistogram's text percentile table: its rows (value, percentile, total count), Max and TotalCount."""
    rows = []
    maximum = total = -1.0
    for line in path.read_text().splitlines():
        fields = line.split()
        if line.startswith("#[Max"):
            numbers = re.findall(r"[\d.]+", line)
            maximum, total = float(numbers[0]), float(numbers[1])
        elif len(fields) in (3, 4) and fields[0][0].isdigit():
            rows.append((float(fields[0]), float(fields[1]), int(fields[2])))
    return rows, maximum, total


# ----- 1. pubsub against an independent subscriber ---------------------------------------------

def test_pubsub_counts_what_an_independent_mosquitto_sub_counts(mosquitto, mosquitto_sub, tmp_path):
    seen = tmp_path / "mosquitto_sub.txt"
    with seen.open("w") as out:
        watcher = subprocess.Popen([mosquitto_sub, "-h", "127.0.0.1", "-p", str(mosquitto.port),
                                    "-t", "eventscope/bench/#"], stdout=out, stderr=subprocess.STDOUT)
    try:
        # Probes until one shows: then it is subscribed (a single probe may come before its SUBSCRIBE).
        wait_until(lambda: publish_raw(mosquitto.port, [("eventscope/bench/probe", b"probe")])
                   or "probe" in seen.read_text(), timeout=10, interval=0.1, message="mosquitto_sub subscribed")

        def bench_lines() -> int:
            return sum(1 for line in seen.read_text().splitlines() if line.startswith("ESB1"))

        histogram = tmp_path / "latency.hgrm"
        result = bench("pubsub", "--port", str(mosquitto.port), "--rate", "10000", "--seconds", "5",
                       "--format", "json", "--out", str(histogram))
        assert result.returncode == 0, result.stderr
        document = report(result)
        assert PUBSUB_KEYS <= document.keys()
        assert document["latency_ms"].keys() == LATENCY_KEYS
        assert document["sent"] == 50_000
        assert document["lost"] == 0 and document["duplicates"] == 0
        assert document["received"] == document["sent"]
        wait_until(lambda: bench_lines() >= document["received"], timeout=15, message="mosquitto_sub's count")
    finally:
        watcher.terminate()
        watcher.wait(10)
    assert bench_lines() == document["received"]

    rows, maximum, total = read_hgrm(histogram)
    assert len(rows) > 10
    assert [percentile for _, percentile, _ in rows] == sorted(percentile for _, percentile, _ in rows)
    assert rows[-1][1] == 1.0 and rows[-1][0] == pytest.approx(maximum)
    assert maximum == pytest.approx(document["latency_ms"]["max"], abs=0.001)
    assert total >= document["received"]  # coordinated-omission corrections only ever add samples
    assert document["latency_ms"]["p50"] <= document["latency_ms"]["p99"] <= document["latency_ms"]["max"]


# ----- 2. the subscriber's broker dies mid-run ----------------------------------------------

def test_a_subscriber_broker_restart_mid_run_shows_as_loss_not_a_crash(mosquitto_factory, tmp_path):
    publishers_broker = mosquitto_factory()
    # The subscribers' broker pulls the bench topics over a bridge, which it opens again as soon as it restarts.
    subscribers_broker = mosquitto_factory(
        "allow_anonymous true\n"
        f"connection from-publishers\naddress 127.0.0.1:{publishers_broker.port}\n"
        "topic eventscope/bench/# in 0\ncleansession true\n")

    def bridged() -> bool:
        return "from-publishers" in publishers_broker.log_path.read_text(errors="replace")

    wait_until(bridged, timeout=15, message="the bridge to connect")
    process, out, err = start_bench(
        tmp_path, "pubsub", "pubsub", "--pub-url", f"mqtt://127.0.0.1:{publishers_broker.port}",
        "--sub-url", f"mqtt://127.0.0.1:{subscribers_broker.port}", "--rate", "2000", "--seconds", "6",
        "--progress", "--format", "json")
    try:
        def receiving() -> bool:
            return bool(re.search(r"received [1-9][\d,]*/s", err.read_text()))

        wait_until(lambda: receiving() or process.poll() is not None, timeout=20, message="messages flowing")
        assert process.poll() is None, err.read_text()
        subscribers_broker.stop(kill=True)
        subscribers_broker.start()  # the same port: the bench's subscriber and the bridge come back
        process.wait(60)
    finally:
        stop_process(process)
    stderr = err.read_text()
    assert "Traceback" not in stderr
    assert process.returncode == 0, stderr
    document = json.loads(out.read_text())
    assert document["sent"] == 12_000
    assert document["lost"] > 0 and document["gaps"] >= 1
    assert document["received"] + document["lost"] == document["sent"]
    assert document["reconnects"] >= 1
    per_second = document["received_per_second"]
    assert any(count > 0 for count in per_second[3:]), per_second  # flowing again after the restart


# ----- 3. request/reply through the tracker ------------------------------------------------

@pytest.fixture
def replier(mosquitto, tmp_path):
    log_path = tmp_path / "reply.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([*EVENTSCOPE, "reply", "--port", str(mosquitto.port)],
                                   stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_until(lambda: "serving" in log_path.read_text() or process.poll() is not None, timeout=30,
                   message="replier ready")
        assert process.poll() is None, log_path.read_text()
        yield process
    finally:
        stop_process(process)


def test_request_bench_reports_rtt_percentiles_and_no_timeouts(mosquitto, replier):
    result = bench("request", "--port", str(mosquitto.port), "--count", "300", "--concurrency", "4",
                   "--format", "json")
    assert result.returncode == 0, result.stderr
    document = report(result)
    assert REQUEST_KEYS <= document.keys() and document["rtt_ms"].keys() == LATENCY_KEYS
    assert (document["sent"], document["replies"], document["timeouts"], document["failed"]) == (300, 300, 0, 0)
    rtt = document["rtt_ms"]
    assert 0 < rtt["p50"] <= rtt["p90"] <= rtt["p99"] <= rtt["p999"] <= rtt["max"]
    assert document["latency_corrected"] is False and document["latency_samples"] == 300


def test_request_bench_at_a_fixed_rate_keeps_to_it(mosquitto, replier):
    result = bench("request", "--port", str(mosquitto.port), "--rate", "200", "--count", "200",
                   "--concurrency", "2")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    replies = re.search(r"replies\s+200 \(([\d,]+) req/s\)", result.stdout)
    assert replies, result.stdout
    assert int(replies.group(1).replace(",", "")) <= 220  # paced: 200 requests take about a second
    assert re.search(r"timeouts\s+0 ", result.stdout)
    assert "(corrected for coordinated omission)" in result.stdout


# ----- 4. read-only --------------------------------------------------------------------------

LOGGING_CONFIG = "allow_anonymous true\nlog_type all\nconnection_messages true\n"

READ_ONLY_RUNS = {
    "pub, command flag": ["bench", "pub", "--read-only", "--count", "10"],
    "pubsub, top-level flag": ["--read-only", "bench", "pubsub", "--count", "10"],
    "request, command flag": ["bench", "request", "--read-only", "--count", "1"],
}


@pytest.mark.parametrize("argv", READ_ONLY_RUNS.values(), ids=READ_ONLY_RUNS.keys())
def test_read_only_refuses_every_bench_that_publishes(mosquitto_factory, argv):
    broker = mosquitto_factory(LOGGING_CONFIG)
    result = run(*argv, "--port", str(broker.port), timeout=30)
    assert result.returncode == 2, result.stderr
    assert "is read-only (monitor mode)" in result.stderr and "Traceback" not in result.stderr
    assert "Received PUBLISH" not in broker.log_path.read_text(errors="replace")


def test_a_read_only_profile_refuses_bench_pub_but_not_bench_sub(mosquitto_factory):
    broker = mosquitto_factory(LOGGING_CONFIG)
    store = ProfileStore.load()
    store.put(StoredProfile(ConnectionProfile(name="monitor", port=broker.port, read_only=True)))
    refused = bench("pub", "--profile", "monitor", "--count", "10")
    assert refused.returncode == 2
    assert "monitor is read-only" in refused.stderr
    listened = bench("sub", "--profile", "monitor", "--seconds", "0.2", "--format", "json")
    assert listened.returncode == 0, listened.stderr
    assert report(listened)["received"] == 0
    assert "Received PUBLISH" not in broker.log_path.read_text(errors="replace")


# ----- 5. pub and sub side by side: JSON keys and counts ---------------------------------------

def test_pub_and_sub_json_reports(mosquitto, tmp_path):
    subscriber, out, err = start_bench(tmp_path, "sub", "sub", "--port", str(mosquitto.port), "--clients", "2",
                                       "--count", "1000", "--seconds", "30", "--format", "json")
    try:
        wait_until(lambda: "bench: 2 subscriber(s)" in err.read_text() or subscriber.poll() is not None,
                   timeout=20, message="bench sub ready")
        histogram = tmp_path / "acks.hgrm"
        published = bench("pub", "--port", str(mosquitto.port), "--count", "500", "--rate", "5000", "--qos", "1",
                          "-c", "2", "-t", "eventscope/bench/{region}/{i}", "--regions", "us,eu",
                          "--format", "json", "--out", str(histogram))
        assert published.returncode == 0, published.stderr
        subscriber.wait(30)
    finally:
        stop_process(subscriber)
    pub = report(published)
    assert PUB_KEYS <= pub.keys() and pub["latency_ms"].keys() == LATENCY_KEYS
    assert (pub["sent"], pub["acked"], pub["refused"], pub["offered_rate"]) == (500, 500, 0, 5000.0)
    assert pub["latency_ms"]["max"] is not None  # publish to PUBACK
    assert read_hgrm(histogram)[0]
    assert subscriber.returncode == 0, err.read_text()
    sub = json.loads(out.read_text())
    assert SUB_KEYS <= sub.keys() and sub["latency_ms"].keys() == LATENCY_KEYS
    assert (sub["received"], sub["lost"], sub["duplicates"], sub["subscribers"]) == (1000, 0, 0, 2)
    assert sub["latency_ms"]["p50"] is not None


# ----- the tool's own ceiling, and errors ---------------------------------------------------

def test_flat_out_pub_table_shows_its_own_send_rate_and_what_limited_it(mosquitto):
    result = bench("pub", "--port", str(mosquitto.port), "--count", "50000")
    assert result.returncode == 0, result.stderr
    assert re.search(r"send rate\s+[\d,]+ msg/s \(the publishers' own\)", result.stdout), result.stdout
    assert re.search(r"limit\s+limited by (the broker/network|the tool itself)", result.stdout), result.stdout
    assert re.search(r"sent\s+50,000 in", result.stdout)


def test_unreachable_broker_and_bad_input_are_clear_errors():
    port = str(free_port())  # nothing listens there
    for mode in ("pub", "sub", "pubsub", "request"):
        result = bench(mode, "--port", port, "--count", "1", timeout=30)
        assert result.returncode == 1, (mode, result.stderr)
        assert f"Connection refused by 127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr
    bad_topic = bench("pub", "--port", port, "-t", "a/+/{i}")
    assert bad_topic.returncode == 2 and "wildcard" in bad_topic.stderr
    no_regions = bench("pubsub", "--port", port, "-t", "a/{region}")
    assert no_regions.returncode == 2 and "give --regions" in no_regions.stderr
    too_small = bench("pub", "--port", port, "--size", "10")
    assert too_small.returncode == 2 and "bench header" in too_small.stderr
