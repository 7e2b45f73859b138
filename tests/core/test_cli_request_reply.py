"""``eventscope request`` against ``eventscope reply``, both as real processes on a real Mosquitto."""

from __future__ import annotations

import signal
import subprocess

import pytest

from tests.conftest import wait_until
from tests.helpers.cli import EVENTSCOPE


@pytest.fixture
def replier_process(mosquitto, tmp_path):
    """Start ``eventscope reply`` with extra arguments; returns (process, path of its stderr log)."""
    started = []

    def start(*extra: str):
        log_path = tmp_path / f"reply{len(started)}.log"
        log = log_path.open("w")
        process = subprocess.Popen([*EVENTSCOPE, "reply", "--port", str(mosquitto.port), *extra],
                                   stdout=subprocess.DEVNULL, stderr=log)
        started.append((process, log))
        wait_until(lambda: "serving" in log_path.read_text() or process.poll() is not None, timeout=30,
                   message="replier ready")
        assert process.poll() is None, log_path.read_text()
        return process, log_path

    yield start
    for process, log in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        log.close()


def request(port: int, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*EVENTSCOPE, "request", "--port", str(port), *args],
                          capture_output=True, text=True, timeout=30)


def test_request_gets_fixed_reply_and_replier_logs_and_stops_cleanly(mosquitto, replier_process):
    process, log_path = replier_process("--reply-payload", "pong")
    done = request(mosquitto.port, "--topic", "us-east/hello/request", "--payload", "hi")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "pong\n"
    assert " ms" in done.stderr and "uncorrelated" not in done.stderr
    wait_until(lambda: "served us-east/hello/request" in log_path.read_text(), message="served line")
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0
    assert "served 1 requests" in log_path.read_text()


def test_request_burst_prints_every_reply_and_a_summary(mosquitto, replier_process):
    replier_process()  # echo
    done = request(mosquitto.port, "--topic", "eu-central/hello/request", "--payload", "echo me",
                   "--count", "40", "--concurrency", "8", "--qos", "1", "--timeout", "15")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["echo me"] * 40
    assert "40 replies, 0 failed; RTT ms min" in done.stderr


def test_mqtt311_request_and_reply_marked_uncorrelated(mosquitto, replier_process):
    replier_process("--mqtt", "3", "--reply-payload", "v3 answer")
    done = request(mosquitto.port, "--mqtt", "3", "--topic", "us-west/hello/request", "--payload", "hi")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "v3 answer\n"
    assert "reply on hello/response" in done.stderr and "(uncorrelated)" in done.stderr


def test_request_timeout_exits_1(mosquitto):
    done = request(mosquitto.port, "--topic", "nobody/hello/request", "--timeout", "0.3")
    assert done.returncode == 1
    assert "No reply on" in done.stderr and done.stdout == ""


@pytest.mark.parametrize("args, reason", [
    (("--topic", "us-east/+/request"), "wildcard"),
    (("--topic", "a/b", "--count", "0"), "at least 1"),
    (("--topic", "a/b", "--reply-topic", "r/#"), "wildcard"),
])
def test_request_usage_errors_exit_2(args, reason):
    done = request(1, *args)  # refused before any connection attempt
    assert done.returncode == 2
    assert reason in done.stderr


def test_reply_bad_filter_exits_2():
    done = subprocess.run([*EVENTSCOPE, "reply", "--port", "1", "--filter", "a/b#"], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 2
    assert "'#' must occupy a whole level" in done.stderr
