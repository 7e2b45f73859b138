"""``eventscope pub/sub/request`` against ``mosquitto_pub/mosquitto_sub/mosquitto_rr`` on the same command
lines: the same messages reach the broker, and the same bytes come out.

Each broker logs everything (``log_type all``), so a test knows a client has subscribed when the log
shows the broker's SUBACK to its client id, and can compare what the broker received from each client.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.conftest import publish_raw, wait_until
from tests.helpers.cli import EVENTSCOPE

LOGGING = "allow_anonymous true\nlog_type all\n"


def _log_lines(broker) -> list[str]:
    """The broker's log without timestamps and client ports, one entry per line."""
    text = broker.log_path.read_text(errors="replace")
    return [re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", re.sub(r"^\d+: ", "", line)) for line in text.splitlines()]


def _wait_subscribed(broker, client_id: str, process: subprocess.Popen) -> None:
    wait_until(lambda: f"Sending SUBACK to {client_id}" in _log_lines(broker) or process.poll() is not None,
               timeout=20, message=f"{client_id} to subscribe")
    assert process.poll() is None, process.communicate()


def _finish(process: subprocess.Popen, timeout: float = 30) -> tuple[bytes, bytes]:
    try:
        return process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()  # by its PID, never left running
            process.wait(10)


def _both_subscribers(broker, mosquitto_sub: str, args: list[str]) -> tuple[subprocess.Popen, subprocess.Popen]:
    """mosquitto_sub and eventscope sub with the same arguments, both subscribed when this returns."""
    theirs = subprocess.Popen([mosquitto_sub, *args, "-i", "compat-mosquitto"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    ours = subprocess.Popen([*EVENTSCOPE, "sub", *args, "-i", "compat-eventscope"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    for process, client_id in ((theirs, "compat-mosquitto"), (ours, "compat-eventscope")):
        _wait_subscribed(broker, client_id, process)
    return theirs, ours


SUB_MESSAGES = [("a/1", b"hello"), ("b/ignored", b"not matched"), ("a/2/deep", b"two words"), ("a/3", b""),
                ("a/4", b"\xff\x00 binary")]


@pytest.mark.parametrize("output", [[], ["-v"], ["-v", "-N"], ["-F", "%t|%p|%q|%r|%l|%m|%x|%X"],
                                    ["-F", "[%10t] [%-6l] [%06l] [%.2t]\\t%%@@"], ["-q", "1", "-v"]],
                         ids=["payload", "verbose", "no-newline", "format", "format-widths", "qos1"])
def test_sub_prints_what_mosquitto_sub_prints(mosquitto_factory, mosquitto_pub, mosquitto_sub, output):
    broker = mosquitto_factory(LOGGING)
    subprocess.run([mosquitto_pub, "-p", str(broker.port), "-t", "a/retained", "-m", "kept", "-r"], check=True)
    theirs, ours = _both_subscribers(broker, mosquitto_sub, ["-p", str(broker.port), "-t", "a/#", "-C", "5", *output])
    publish_raw(broker.port, SUB_MESSAGES)
    (expected, their_err), (got, our_err) = _finish(theirs), _finish(ours)
    assert theirs.returncode == 0, their_err
    assert ours.returncode == 0, our_err
    assert expected  # the comparison is of something
    assert got == expected


def test_sub_with_two_filters_and_a_url(mosquitto_factory, mosquitto_sub):
    broker = mosquitto_factory(LOGGING)
    theirs, ours = _both_subscribers(broker, mosquitto_sub,
                                     ["-L", f"mqtt://127.0.0.1:{broker.port}/x/#", "-t", "y/+", "-C", "3", "-v"])
    publish_raw(broker.port, [("x/1", b"one"), ("z/no", b"skipped"), ("y/2", b"two"), ("x/3/4", b"three")])
    (expected, _), (got, err) = _finish(theirs), _finish(ours)
    assert expected == b"x/1 one\ny/2 two\nx/3/4 three\n"
    assert got == expected, err


def test_sub_json_and_time_specifiers_have_mosquitto_sub_fields(mosquitto_factory, mosquitto_sub):
    broker = mosquitto_factory(LOGGING)
    theirs, ours = _both_subscribers(broker, mosquitto_sub, ["-p", str(broker.port), "-t", "j/#", "-q", "1", "-C", "2",
                                                             "-F", "%j"])
    publish_raw(broker.port, [("j/1", b'{"a": 1}'), ("j/2", "caf\u00e9 \"quoted\"".encode())])
    (expected, _), (got, err) = _finish(theirs), _finish(ours)
    theirs_rows = [json.loads(line) for line in expected.splitlines()]
    ours_rows = [json.loads(line) for line in got.splitlines()]
    assert len(ours_rows) == 2, err
    for row in theirs_rows + ours_rows:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}.*", row.pop("tst"))
    assert [list(row) for row in ours_rows] == [list(row) for row in theirs_rows]  # same fields, same order
    assert ours_rows == theirs_rows


def test_sub_iso_time_has_mosquitto_sub_shape(mosquitto_factory, mosquitto_sub):
    broker = mosquitto_factory(LOGGING)
    theirs, ours = _both_subscribers(broker, mosquitto_sub, ["-p", str(broker.port), "-t", "t", "-C", "1", "-F", "%I %U"])
    publish_raw(broker.port, [("t", b"x")])
    (expected, _), (got, err) = _finish(theirs), _finish(ours)
    shape = rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} \d+\.\d{9}\n"
    assert re.fullmatch(shape, expected)
    assert re.fullmatch(shape, got), err


def test_an_unsupported_format_is_a_usage_error_as_in_mosquitto_sub(mosquitto_sub):
    theirs = subprocess.run([mosquitto_sub, "-t", "a", "-F", "%Z", "-p", "1"], capture_output=True, text=True, timeout=30)
    ours = subprocess.run([*EVENTSCOPE, "sub", "-t", "a", "-F", "%Z", "-p", "1"], capture_output=True, text=True,
                          timeout=30)
    assert theirs.returncode != 0 and "'Z'" in theirs.stderr
    assert ours.returncode == 2 and "%Z is not supported" in ours.stderr
    assert ours.stderr.startswith("usage: eventscope sub")
    escape = subprocess.run([*EVENTSCOPE, "sub", "-F", "%t\\q", "-p", "1"], capture_output=True, text=True, timeout=30)
    assert escape.returncode == 2 and "\\q is not supported" in escape.stderr


PUB_ARGUMENTS = {
    "qos 1 retained, -h": ["-h", "127.0.0.1", "-t", "compat/x", "-m", "y", "-q", "1", "-r"],
    "file at qos 2": ["-t", "compat/x", "-f", "PAYLOAD_FILE", "-q", "2"],
    "3.1.1, client id, keepalive": ["-t", "compat/x", "-m", "hello world", "-V", "mqttv311", "-i", "compat-pub",
                                    "-k", "20"],
    "url": ["-L", "mqtt://127.0.0.1:PORT/compat/x", "-m", "via url", "-V", "5", "-i", "compat-pub"],
}


@pytest.mark.parametrize("arguments", list(PUB_ARGUMENTS.values()), ids=list(PUB_ARGUMENTS))
def test_pub_sends_what_mosquitto_pub_sends(mosquitto_factory, mosquitto_pub, mosquitto_sub, tmp_path, arguments):
    broker = mosquitto_factory(LOGGING)
    payload_file = tmp_path / "payload.bin"
    payload_file.write_bytes(b"\x00\x01 from a file\n")
    args = ["-p", str(broker.port)] + [str(payload_file) if a == "PAYLOAD_FILE" else a.replace("PORT", str(broker.port))
                                       for a in arguments]
    watcher = subprocess.Popen([mosquitto_sub, "-p", str(broker.port), "-t", "compat/#", "-q", "2", "-C", "2",
                                "-F", "%t|%q|%r|%l|%x", "-i", "compat-watcher"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    _wait_subscribed(broker, "compat-watcher", watcher)
    seen_before = len(_log_lines(broker))
    theirs = subprocess.run([mosquitto_pub, *args], capture_output=True, timeout=30)
    their_log = _log_lines(broker)[seen_before:]
    retained_after_theirs = _retained(mosquitto_sub, broker) if "-r" in arguments else None
    seen_before = len(_log_lines(broker))
    ours = subprocess.run([*EVENTSCOPE, "pub", *args], capture_output=True, timeout=30)
    our_log = _log_lines(broker)[seen_before:]
    assert (theirs.returncode, ours.returncode) == (0, 0), ours.stderr
    watched, _ = _finish(watcher)
    first, second = watched.splitlines()
    assert first == second  # the same topic, QoS, retain flag and payload bytes
    if retained_after_theirs is not None:  # a later subscriber gets the same retained message
        assert retained_after_theirs.startswith(b"1|")
        assert _retained(mosquitto_sub, broker) == retained_after_theirs
    received = [_received(log) for log in (their_log, our_log)]
    assert received[0] is not None and received[0] == received[1]  # flags, QoS, topic and size as the broker saw them
    if "-k" in arguments:  # protocol version, clean start, keepalive and client id as the broker saw them
        assert _connected(their_log) == _connected(our_log)


def _retained(mosquitto_sub: str, broker) -> bytes:
    done = subprocess.run([mosquitto_sub, "-p", str(broker.port), "-t", "compat/x", "-C", "1", "-W", "5",
                           "-F", "%r|%q|%p"], capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _received(log: list[str]) -> str | None:
    """The broker's line for the PUBLISH it received, without the client id (ids differ unless given)."""
    for line in log:
        if line.startswith("Received PUBLISH from "):
            return re.sub(r"from \S+ ", "from CLIENT ", line)
    return None


def _connected(log: list[str]) -> str:
    return next(line for line in log if line.startswith("New client connected"))


def test_pub_with_user_and_password_never_shows_the_password(mosquitto_factory, mosquitto_pub, tmp_path):
    passwords = tmp_path / "passwords"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwords), "alice", "s3cret-word"], check=True,
                   capture_output=True)
    broker = mosquitto_factory(f"allow_anonymous false\npassword_file {passwords}\nlog_type all\n")
    args = ["-p", str(broker.port), "-t", "compat/x", "-m", "hi", "-u", "alice", "-i", "compat-user"]
    theirs = subprocess.run([mosquitto_pub, *args, "-P", "s3cret-word"], capture_output=True, timeout=30)
    ours = subprocess.run([*EVENTSCOPE, "--log-level", "DEBUG", "pub", *args, "-P", "s3cret-word"], capture_output=True,
                          text=True, timeout=30)
    assert (theirs.returncode, ours.returncode) == (0, 0), ours.stderr
    connected = [line for line in _log_lines(broker) if line.startswith("New client connected")]
    assert len(connected) == 2 and "u'alice'" in connected[1]
    wrong = subprocess.run([*EVENTSCOPE, "--log-level", "DEBUG", "pub", *args, "-P", "wr0ng-word"], capture_output=True,
                           text=True, timeout=30)
    assert wrong.returncode == 1 and "alice" not in wrong.stdout
    url = subprocess.run([*EVENTSCOPE, "pub", "-L", "mqtt://alice:wr0ng-word@127.0.0.1:99999/x", "-m", "x"],
                         capture_output=True, text=True, timeout=30)
    assert url.returncode == 2 and "alice:***@" in url.stderr
    for done in (ours, wrong, url):
        assert "s3cret-word" not in done.stdout + done.stderr and "wr0ng-word" not in done.stdout + done.stderr


@pytest.fixture
def echo_replier(mosquitto_factory, tmp_path):
    broker = mosquitto_factory(LOGGING)
    log_path = tmp_path / "reply.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([*EVENTSCOPE, "reply", "-p", str(broker.port), "-t", "compat/q"],
                                   stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_until(lambda: "serving" in log_path.read_text() or process.poll() is not None, timeout=30,
                   message="the replier to subscribe")
        assert process.poll() is None, log_path.read_text()
        yield broker
    finally:
        process.kill()  # by its PID
        process.wait(10)


@pytest.mark.parametrize("output", [[], ["-v"], ["-N"]], ids=["payload", "verbose", "no-newline"])
def test_request_prints_what_mosquitto_rr_prints(echo_replier, mosquitto_rr, output):
    args = ["-p", str(echo_replier.port), "-t", "compat/q", "-e", "compat/r", "-m", "hi", "-W", "5", *output]
    theirs = subprocess.run([mosquitto_rr, *args], capture_output=True, timeout=30)
    ours = subprocess.run([*EVENTSCOPE, "request", *args], capture_output=True, timeout=30)
    assert (theirs.returncode, ours.returncode) == (0, 0), ours.stderr
    assert theirs.stdout  # the comparison is of something
    assert ours.stdout == theirs.stdout


def test_request_payload_from_a_file(echo_replier, mosquitto_rr, tmp_path):
    """``-f`` sends the file's bytes; mosquitto_rr 2.0.11 prints nothing for ``-f``, so it gets them with ``-m``."""
    payload_file = tmp_path / "request.txt"
    payload_file.write_bytes(b"from a file")
    args = ["-p", str(echo_replier.port), "-t", "compat/q", "-e", "compat/r", "-W", "5"]
    theirs = subprocess.run([mosquitto_rr, *args, "-m", "from a file"], capture_output=True, timeout=30)
    ours = subprocess.run([*EVENTSCOPE, "request", *args, "-f", str(payload_file)], capture_output=True, timeout=30)
    assert (theirs.returncode, ours.returncode) == (0, 0), ours.stderr
    assert ours.stdout == theirs.stdout == b"from a file\n"
