"""Fault suite, connection and TLS classes: every way a connection can fail gives the exact cause,
exit 1 and no traceback, at once when the peer says no, and within the connect timeout when it says nothing.

The time bounds are generous on purpose (a shared 2-core machine); before these fixes each case took 10 s or more.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.helpers.cli import EVENTSCOPE, run

AT_ONCE = 2.5  # seconds, process start-up included: a refusal must not wait for any timeout


def timed(*argv: str, timeout: float = 30) -> tuple:
    start = time.monotonic()
    result = run(*argv, timeout=timeout)
    return result, time.monotonic() - start


def assert_failed_with(result, *words: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


COMMANDS = {
    "pub": ["pub", "-t", "a", "-m", "x"],
    "sub": ["sub", "-t", "a", "--count", "1"],
    "request": ["request", "-t", "a/request", "-m", "x"],
    "audit record": ["audit", "record"],
}


@pytest.mark.parametrize("argv", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_refused_port_fails_at_once(argv, tmp_path):
    from tests.conftest import free_port

    extra = ["--db", str(tmp_path / "a.sqlite3")] if argv[0] == "audit" else []
    result, seconds = timed(*argv, *extra, "--port", str(free_port()))
    assert_failed_with(result, "Connection refused")
    assert seconds < AT_ONCE


def test_an_unknown_host_names_the_host():
    result, seconds = timed("pub", "-t", "a", "-m", "x", "--host", "no-such-host.invalid")
    assert_failed_with(result, "Unknown host 'no-such-host.invalid'")
    assert seconds < 10  # the resolver's own answer; no retry on top


def test_a_reset_mid_handshake_fails_at_once(closing_server):
    result, seconds = timed("pub", "-t", "a", "-m", "x", "--port", str(closing_server))
    assert_failed_with(result, f"127.0.0.1:{closing_server}")
    assert "closed the connection" in result.stderr or "reset" in result.stderr.lower()
    assert seconds < AT_ONCE


def test_a_talking_non_mqtt_server_fails_at_once(http_server):
    result, seconds = timed("sub", "-t", "a", "--port", str(http_server))
    assert_failed_with(result, f"127.0.0.1:{http_server}")
    assert seconds < AT_ONCE


@pytest.mark.parametrize("connect_timeout", ["1.5", None], ids=["--connect-timeout 1.5", "default 5 s"])
def test_a_silent_server_fails_within_the_connect_timeout_with_what_to_check(silent_server, connect_timeout):
    extra = ["--connect-timeout", connect_timeout] if connect_timeout else []
    result, seconds = timed("pub", "-t", "a", "-m", "x", "--port", str(silent_server), *extra)
    limit = float(connect_timeout or 5)
    assert_failed_with(result, f"no MQTT answer from 127.0.0.1:{silent_server} within {limit:g} s",
                       "(is this an MQTT port? TLS vs plain?)")
    assert limit <= seconds < limit + AT_ONCE


def test_a_black_hole_fails_within_the_connect_timeout_naming_the_network(black_hole):
    result, seconds = timed("sub", "-t", "a", "--port", str(black_hole), "--connect-timeout", "1.5")
    assert_failed_with(result, f"could not open a TCP connection to 127.0.0.1:{black_hole} within 1.5 s: "
                               "the host is down, unreachable or firewalled")
    assert "MQTT port" not in result.stderr  # not the wrong cause
    assert 1.5 <= seconds < 1.5 + AT_ONCE


def test_a_session_tells_a_black_hole_from_a_silent_server(black_hole, silent_server):
    """The window's broker row shows the session's status: the two failures read differently there too."""
    from eventscope.core.mqtt.session import MqttSession, SessionState
    from eventscope.core.profile import ConnectionProfile
    from tests.conftest import wait_until

    hole = MqttSession(ConnectionProfile(host="127.0.0.1", port=black_hole))
    silent = MqttSession(ConnectionProfile(host="127.0.0.1", port=silent_server))
    silent.connack_timeout = 1.0
    hole.start()
    silent.start()
    try:
        wait_until(lambda: hole.status.state is SessionState.RECONNECTING, 15, message="the black hole's attempt")
        wait_until(lambda: silent.status.state is SessionState.RECONNECTING, 15, message="the silent server's attempt")
        assert hole.status.message == (f"could not open a TCP connection to 127.0.0.1:{black_hole} within 5 s: "
                                       "the host is down, unreachable or firewalled")
        assert silent.status.message.startswith(f"no MQTT answer from 127.0.0.1:{silent_server} within 1 s")
    finally:
        hole.stop(timeout=0.5)
        silent.stop(timeout=0.5)


def test_request_timeout_bounds_the_whole_command_connect_included(silent_server):
    result, seconds = timed("request", "-t", "a/request", "-m", "x", "--timeout", "1", "--port", str(silent_server))
    assert_failed_with(result, "no MQTT answer")
    assert seconds < 1 + AT_ONCE


def test_stopping_a_session_that_a_silent_port_never_answered_does_not_wait_for_its_goodbye(silent_server):
    """The graceful close waits for the broker's own close so that the last acks arrive; a port that never
    sent a CONNACK has none of ours to lose, and it would hold every stop for the whole wait."""
    from eventscope.core.mqtt.session import GOODBYE_TIMEOUT, MqttSession
    from eventscope.core.profile import ConnectionProfile
    from tests.conftest import wait_until

    session = MqttSession(ConnectionProfile(name="silent", host="127.0.0.1", port=silent_server))
    session.start()
    try:
        wait_until(lambda: session.tcp_open, message="the TCP connection open")
        assert not session.is_connected
    finally:
        started = time.monotonic()
        session.stop()
    assert time.monotonic() - started < GOODBYE_TIMEOUT / 2


@pytest.mark.parametrize("mqtt", ["3", "5"])
def test_bad_credentials_fail_at_once(password_broker, mqtt, monkeypatch):
    monkeypatch.setenv("BROKER_PASSWORD", "wrong")
    result, seconds = timed("pub", "-t", "allowed/x", "-m", "x", "--mqtt", mqtt, "--port", str(password_broker.port),
                            "-u", "alice", "--password-env", "BROKER_PASSWORD")
    assert_failed_with(result)
    assert "Bad user name or password" in result.stderr or "Not authorised" in result.stderr
    assert seconds < AT_ONCE


def test_audit_record_with_bad_credentials_stops_at_once(password_broker, tmp_path, monkeypatch):
    monkeypatch.setenv("BROKER_PASSWORD", "wrong")
    result, seconds = timed("audit", "record", "--port", str(password_broker.port), "-u", "alice",
                            "--password-env", "BROKER_PASSWORD", "--db", str(tmp_path / "a.sqlite3"))
    assert_failed_with(result, "Cannot start the audit recorder")
    assert "Bad user name or password" in result.stderr or "Not authorised" in result.stderr
    assert seconds < AT_ONCE


def test_a_running_audit_recorder_stops_when_the_broker_starts_refusing_it(mosquitto, tmp_path):
    recorder = subprocess.Popen([*EVENTSCOPE, "audit", "record", "--port", str(mosquitto.port),
                                 "--db", str(tmp_path / "a.sqlite3")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    try:
        assert "audit recorder ready" in recorder.stdout.readline()
        mosquitto.extra_config = "allow_anonymous false\n"  # the same broker, now refusing anonymous clients
        mosquitto.restart()
        assert recorder.wait(15) == 1  # not retrying for ever against a refusal that cannot change
        stderr = recorder.stderr.read()
    finally:
        if recorder.poll() is None:
            recorder.kill()
            recorder.wait(10)
    assert "The audit recorder on mqtt://127.0.0.1" in stderr and "Not authori" in stderr and "Traceback" not in stderr


@pytest.mark.parametrize("command", ["sub", "audit record"])
def test_a_refused_subscription_names_the_filter_and_the_reason(password_broker, tmp_path, monkeypatch, command):
    monkeypatch.setenv("BROKER_PASSWORD", "s3cret")
    login = ["--port", str(password_broker.port), "-u", "alice", "--password-env", "BROKER_PASSWORD"]
    if command == "sub":
        result, seconds = timed("sub", "-t", "secret/#", "--count", "1", *login)
    else:
        result, seconds = timed("audit", "record", "--filter", "secret/#", "--db", str(tmp_path / "a.sqlite3"), *login)
    assert_failed_with(result, "'secret/#'", "Not authorized")
    assert seconds < AT_ONCE


# ----- TLS -----------------------------------------------------------------------------

def tls_args(broker, ca_file: str) -> list[str]:
    return ["--port", str(broker.port), "--tls", "--cafile", ca_file]


def test_a_good_tls_broker_works_and_insecure_warns(tls_broker_factory, certificates):
    broker = tls_broker_factory()
    result = run("pub", "-t", "a", "-m", "x", *tls_args(broker, certificates.ca_file))
    assert result.returncode == 0 and "warning" not in result.stderr, result.stderr
    insecure = run("pub", "-t", "a", "-m", "x", "--port", str(broker.port), "--tls", "--insecure")
    assert insecure.returncode == 0, insecure.stderr
    assert "warning: TLS certificate verification is OFF" in insecure.stderr


TLS_FAULTS = {
    "wrong CA": ("server", "stranger_ca_file", "could not be verified"),
    "expired certificate": ("expired", "ca_file", "expired"),
    "hostname mismatch": ("other_host", "ca_file", "mismatch"),
}


@pytest.mark.parametrize("server, ca, words", TLS_FAULTS.values(), ids=TLS_FAULTS.keys())
def test_a_certificate_that_does_not_verify_fails_at_once_with_the_reason(tls_broker_factory, certificates,
                                                                          server, ca, words):
    broker = tls_broker_factory(server)
    result, seconds = timed("pub", "-t", "a", "-m", "x", *tls_args(broker, getattr(certificates, ca)))
    assert_failed_with(result, "TLS certificate", words)
    assert seconds < AT_ONCE


@pytest.mark.parametrize("content", [None, "not a certificate\n"], ids=["missing CA file", "CA file not a certificate"])
def test_a_bad_ca_file_is_named(tmp_path, content):
    ca = tmp_path / "ca.pem"
    if content is not None:
        ca.write_text(content)
    result, seconds = timed("pub", "-t", "a", "-m", "x", "--port", "1", "--tls", "--cafile", str(ca))
    assert_failed_with(result, f"CA file {ca}")
    assert seconds < AT_ONCE


def test_a_broker_that_requires_a_client_certificate_says_so(tls_broker_factory, certificates):
    broker = tls_broker_factory(require_client_certificate=True)
    result, seconds = timed("pub", "-t", "a", "-m", "x", *tls_args(broker, certificates.ca_file))
    assert_failed_with(result, f"127.0.0.1:{broker.port}")
    assert "certificate" in result.stderr.lower()
    assert seconds < AT_ONCE
    cert, key = certificates.client
    with_cert = run("pub", "-t", "a", "-m", "x", *tls_args(broker, certificates.ca_file), "--cert", cert, "--key", key)
    assert with_cert.returncode == 0, with_cert.stderr


def test_tls_to_a_plain_port_says_so(mosquitto, certificates):
    result, seconds = timed("pub", "-t", "a", "-m", "x", *tls_args(mosquitto, certificates.ca_file))
    assert_failed_with(result, "TLS", "plain")
    assert seconds < AT_ONCE


def test_plain_to_a_tls_port_says_so(tls_broker_factory):
    broker = tls_broker_factory()
    result, seconds = timed("pub", "-t", "a", "-m", "x", "--port", str(broker.port))
    assert_failed_with(result, "TLS vs plain")
    assert seconds < AT_ONCE
