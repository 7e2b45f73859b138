"""The CLI takes several brokers (``--broker NAME=URL``, ``--profile NAME``) and says which one each message came from."""

from __future__ import annotations

import json
import subprocess

from eventscope.core.profile import ConnectionProfile
from eventscope.core.profiles.store import ProfileStore, StoredProfile
from tests.helpers.cli import EVENTSCOPE


def _run_sub(arguments: list[str], publish) -> tuple[int, str, str]:
    proc = subprocess.Popen(EVENTSCOPE + ["sub", *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stderr.readline()
        assert "subscribed to" in line, line + proc.stderr.read()
        publish()
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    return proc.returncode, out, err


def test_sub_over_two_brokers_marks_each_line_with_its_broker(mosquitto_factory, mosquitto_pub):
    east, west = mosquitto_factory(), mosquitto_factory()

    def publish() -> None:
        for broker, region, payload in ((east, "us-east", "e"), (west, "us-west", "w")):
            subprocess.run([mosquitto_pub, "-p", str(broker.port), "-t", f"{region}/hello/request", "-m", payload,
                            "-q", "1"], check=True)

    code, out, _ = _run_sub(["--broker", f"east=mqtt://127.0.0.1:{east.port}", "--broker",
                             f"west=127.0.0.1:{west.port}", "-t", "+/hello/request", "--count", "2", "--format", "text"],
                            publish)
    assert code == 0
    assert sorted(out.splitlines()) == ["[east] us-east/hello/request [us-east] e",
                                        "[west] us-west/hello/request [us-west] w"]
    code, out, _ = _run_sub(["--broker", f"east=127.0.0.1:{east.port}", "--broker", f"west=127.0.0.1:{west.port}",
                             "-t", "+/hello/request", "--count", "2", "--format", "jsonl"], publish)
    assert code == 0 and sorted((r["broker"], r["payload"]) for r in map(json.loads, out.splitlines())) == [
        ("east", "e"), ("west", "w")]


def test_sub_with_a_saved_profile(mosquitto, mosquitto_pub):
    ProfileStore.load().put(StoredProfile(ConnectionProfile(name="lab", host="127.0.0.1", port=mosquitto.port)))

    def publish() -> None:
        subprocess.run([mosquitto_pub, "-p", str(mosquitto.port), "-t", "lab/x", "-m", "hi"], check=True)

    code, out, _ = _run_sub(["--profile", "lab", "-t", "lab/#", "--count", "1", "--format", "text"], publish)
    assert code == 0 and out.splitlines() == ["lab/x [lab] hi"]  # one broker: no prefix
    code, out, _ = _run_sub(["--profile", "lab", "-t", "lab/#", "-C", "1", "-v"], publish)
    assert code == 0 and out == "lab/x hi\n"  # mosquitto_sub -v


def test_bad_broker_arguments_are_usage_errors():
    for arguments, message in ((["--broker", "no-equals-sign"], "--broker takes NAME=URL"),
                               (["--broker", "a=127.0.0.1:1", "--broker", "a=127.0.0.1:2"], "its own name"),
                               (["--profile", "nowhere"], "No profile named 'nowhere'")):
        result = subprocess.run(EVENTSCOPE + ["sub", *arguments], capture_output=True, text=True, timeout=30)
        assert result.returncode == 2 and message in result.stderr, result.stderr
    result = subprocess.run(EVENTSCOPE + ["pub", "--broker", "a=127.0.0.1:1", "--broker", "b=127.0.0.1:2", "-t", "x",
                                          "-m", "y"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "talks to one broker" in result.stderr
