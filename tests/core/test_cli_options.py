"""The command line's vocabulary: mosquitto's short options, the long ones kept as aliases, one duration
format, help on every option, usage errors with the sub-command's usage, and ``-F`` formats."""

from __future__ import annotations

import argparse
import json
import os
import pty
import select
import subprocess
import time

import pytest

from eventscope.core.cli.common import parse_duration, parse_mqtt_url
from eventscope.core.cli.message_output import FormatError, MessageFormat, raw_bytes, terminal_bytes
from eventscope.core.records import MessageProperties, MessageRecord
from eventscope.launcher import build_parser
from tests.conftest import publish_raw
from tests.helpers.cli import EVENTSCOPE

CONNECTING = (["pub", "-t", "a"], ["sub"], ["request", "-t", "a"], ["reply"], ["tree"], ["audit", "record"])


def _command_parsers() -> dict[str, argparse.ArgumentParser]:
    """Every sub-command's parser by its name (``audit record`` included), walked from the real top level."""
    found: dict[str, argparse.ArgumentParser] = {}
    pending = [build_parser()]
    while pending:
        parser = pending.pop()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    found[child.prog.removeprefix("eventscope ")] = child
                    pending.append(child)
    return found


def test_every_command_has_a_description_and_every_option_help():
    parsers = _command_parsers()
    assert {"pub", "sub", "request", "reply", "tree", "broker", "audit", "audit record", "audit export"} <= set(parsers)
    for name, parser in parsers.items():
        assert parser.description, name
        for action in parser._actions:
            if action.option_strings:
                assert action.help and action.help != argparse.SUPPRESS, (name, action.option_strings)
            if action.choices and not isinstance(action, argparse._SubParsersAction):
                assert "" not in action.choices, (name, action.option_strings)


def test_h_is_the_host_on_every_connecting_command_and_help_is_long_only():
    parser = build_parser()
    for command in CONNECTING:
        args = parser.parse_args([*command, "-h", "broker.example", "-p", "1884", "-V", "mqttv311", "-i", "me",
                                  "-u", "alice", "-k", "1m"])
        assert (args.host, args.port, args.mqtt, args.client_id, args.username, args.keepalive) == \
               ("broker.example", 1884, "3", "me", "alice", 60), command
    assert parser.parse_args(["audit", "export", "-h", "h", "-p", "2"]).host == "h"
    done = subprocess.run([*EVENTSCOPE, "pub", "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout.startswith("usage: eventscope pub") and "-h HOST" in done.stdout


def test_long_options_stay_as_aliases():
    parser = build_parser()
    args = parser.parse_args(["pub", "--host", "h", "--port", "2", "--mqtt", "3", "--username", "u", "--client-id", "c",
                              "--topic", "t", "--payload", "p", "--qos", "1", "--retain"])
    assert (args.host, args.port, args.mqtt, args.username, args.client_id, args.topic, args.payload, args.qos,
            args.retain) == ("h", 2, "3", "u", "c", "t", "p", 1, True)
    args = parser.parse_args(["sub", "--filter", "a/#", "--topic", "b", "--count", "3", "--seconds", "2m"])
    assert (args.topics, args.count, args.seconds) == (["a/#", "b"], 3, 120)
    args = parser.parse_args(["request", "--topic", "q", "--reply-topic", "r", "--timeout", "7", "--count", "2"])
    assert (args.topic, args.reply_topic, args.timeout, args.count) == ("q", "r", 7, 2)
    assert parser.parse_args(["reply", "--filter", "x/+"]).topic == "x/+"
    assert parser.parse_args(["reply"]).topic == "+/hello/request"
    assert parser.parse_args(["audit", "record", "--filter", "a/#", "-t", "b/#"]).topics == ["a/#", "b/#"]
    assert parser.parse_args(["audit", "export", "--region", "us-east"]).regions == "us-east"


@pytest.mark.parametrize("text, seconds", [("5", 5), ("5s", 5), ("2m", 120), ("1h", 3600), ("7d", 604800),
                                           ("0.5", 0.5), ("0", 0)])
def test_one_duration_format(text, seconds):
    assert parse_duration(text) == seconds
    parser = build_parser()
    assert parser.parse_args(["sub", "-W", text]).seconds == seconds
    assert parser.parse_args(["tree", "--seconds", text]).seconds == seconds
    if seconds:
        assert parser.parse_args(["request", "-t", "q", "-W", text]).timeout == seconds
        assert parser.parse_args(["pub", "-t", "a", "--connect-timeout", text]).connect_timeout == seconds
        assert parser.parse_args(["audit", "record", "--max-age", text]).max_age == seconds


@pytest.mark.parametrize("argv, usage", [
    (["pub", "-t", "a", "-m", "x", "--no-such-option"], "usage: eventscope pub"),
    (["pub", "-m", "x"], "usage: eventscope pub"),
    (["pub", "-t", "a", "-t", "b"], "usage: eventscope pub"),
    (["sub", "-W", "5x"], "usage: eventscope sub"),
    (["sub", "-v", "--format", "jsonl"], "usage: eventscope sub"),
    (["request", "-t", "q", "-W", "0"], "usage: eventscope request"),
    (["pub", "-t", "a", "-V", "mqttv31"], "usage: eventscope pub"),
    (["pub", "-t", "a", "-k", "70000"], "usage: eventscope pub"),
    (["audit", "export", "--kind", ""], "usage: eventscope audit export"),
    (["audit", "record", "-p", "0"], "usage: eventscope audit record"),
])
def test_usage_errors_show_the_sub_command_usage_and_exit_2(argv, usage):
    done = subprocess.run([*EVENTSCOPE, *argv], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr.startswith(usage), done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


@pytest.mark.parametrize("argv, usage", [(["sub", "-t", "a/#/b"], "usage: eventscope sub"),
                                         (["pub", "-t", "a/+", "-m", "x"], "usage: eventscope pub"),
                                         (["audit", "record", "-t", "#/a"], "usage: eventscope audit record")])
def test_input_refused_after_parsing_shows_the_reason_then_the_usage(argv, usage):
    done = subprocess.run([*EVENTSCOPE, *argv, "-p", "1"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    reason, _, shown_usage = done.stderr.partition("usage: ")
    assert reason.startswith("eventscope: ") and f"usage: {shown_usage}".startswith(usage), done.stderr


def test_mqtt_url_like_mosquitto_L():
    url = parse_mqtt_url("mqtts://alice:pa%40ss@broker.example:8884/plant/+/temp/#")
    assert (url.host, url.port, url.tls, url.username, url.password, url.topic) == (
        "broker.example", 8884, True, "alice", "pa@ss", "plant/+/temp/#")
    url = parse_mqtt_url("mqtt://[::1]/x")
    assert (url.host, url.port, url.tls, url.password, url.topic) == ("::1", 1883, False, None, "x")
    with pytest.raises(ValueError) as refused:
        parse_mqtt_url("http://alice:hidden@h/x")
    assert "hidden" not in str(refused.value) and "alice:***@" in str(refused.value)
    args = build_parser().parse_args(["pub", "-L", "mqtt://bob@h:1999/t/a", "-m", "x"])
    assert (args.host, args.port, args.username, args.topic) == ("h", 1999, "bob", "t/a")


def _record(**fields) -> MessageRecord:
    base = dict(topic="a/b", payload=b"hi\x1b", qos=1, retain=True, received=1_700_000_000.25, mid=7,
                properties=MessageProperties(content_type="text/plain", response_topic="r", message_expiry_interval=9))
    return MessageRecord(**{**base, **fields})


def test_format_specifiers_render_as_mosquitto_sub_documents():
    record = _record()
    rendered = MessageFormat("%t|%p|%q|%r|%l|%m|%x|%X|%C|%R|%E|%%|@@|%5l|%-5l|%05l|%.1t|\\t\\n").render(
        record, raw_bytes, newline=True)
    assert rendered == b"a/b|hi\x1b|1|1|3|7|68691b|68691B|text/plain|r|9|%|@|    3|3    |00003|a|\t\n\n"
    assert MessageFormat("%p").render(record, terminal_bytes, newline=False) == b"hi\\x1b"
    assert MessageFormat("@Y").render(record, raw_bytes, newline=False) == \
        time.strftime("%Y", time.localtime(record.received)).encode()
    row = json.loads(MessageFormat("%j").render(_record(payload=b"\xff", qos=0), raw_bytes, newline=False))
    assert (row["topic"], row["retain"], row["payloadlen"], row["payload"], row["payload_encoding"]) == (
        "a/b", 1, 1, "/w==", "base64")


@pytest.mark.parametrize("spec", ["%Z", "%P", "%", "\\q", "@", "x\\"])
def test_unsupported_format_sequences_are_refused(spec):
    with pytest.raises(FormatError):
        MessageFormat(spec)


def test_a_terminal_gets_payload_controls_escaped(mosquitto):
    """Through a pipe the payload goes out as received (as mosquitto_sub writes it); a terminal gets ``\\xNN``."""
    main, child = pty.openpty()
    proc = subprocess.Popen([*EVENTSCOPE, "sub", "-p", str(mosquitto.port), "-t", "tty/#", "-C", "1", "-v"],
                            stdout=child, stderr=subprocess.PIPE)
    os.close(child)
    try:
        assert b"subscribed to" in proc.stderr.readline()
        publish_raw(mosquitto.port, [("tty/a", b"x\x1b[31my\xc2\x9b")])
        shown = b""
        while select.select([main], [], [], 30)[0]:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the terminal's other end closed: the command exited
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(main)
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
    assert proc.returncode == 0
    assert shown.startswith(b"tty/a x\\x1b[31my\\x9b")
    assert b"\x1b" not in shown
