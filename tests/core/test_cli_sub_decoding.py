"""``eventscope sub`` decodes as the window does: a ``--profile``'s stored decoder rules apply, and Sparkplug
aliases learnt before a reconnect are forgotten after it (they hold only until the next BIRTH)."""

from __future__ import annotations

import json
import queue
import subprocess
import threading

import cbor2

from eventscope.core.decoding.rules import DecoderRule
from eventscope.core.profile import ConnectionProfile
from eventscope.core.profiles.store import ProfileStore, StoredProfile
from eventscope.core.sparkplug.payload import MetricValue, encode_payload
from eventscope.core.sparkplug.state import unknown_alias_name
from tests.conftest import publish_raw, wait_until
from tests.helpers.cli import EVENTSCOPE


class _Sub:
    """A running ``eventscope sub --format jsonl``; its lines are collected on a thread as they come."""

    def __init__(self, arguments: list[str]) -> None:
        self.proc = subprocess.Popen(EVENTSCOPE + ["sub", "--format", "jsonl", *arguments], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        assert "subscribed to" in line, line + self.proc.stderr.read()
        self.lines: queue.Queue[dict] = queue.Queue()
        self.seen: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def collected(self) -> list[dict]:
        while not self.lines.empty():
            self.seen.append(self.lines.get_nowait())
        return self.seen

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def test_sub_with_a_profile_decodes_by_the_profiles_rules(mosquitto):
    ProfileStore.load().put(StoredProfile(ConnectionProfile(name="lab", host="127.0.0.1", port=mosquitto.port),
                                          decoder_rules=(DecoderRule.parse("lab/cbor/#=cbor"),)))
    sub = _Sub(["--profile", "lab", "-t", "lab/#", "--count", "2"])
    try:
        publish_raw(mosquitto.port, [("lab/cbor/x", cbor2.dumps({"temp": 21.5})), ("lab/plain", b"hi")])
        wait_until(lambda: len(sub.collected()) == 2 or sub.proc.poll() is not None, 20, message="two lines")
        assert len(sub.collected()) == 2, sub.proc.stderr.read()
        by_topic = {line["topic"]: line for line in sub.collected()}
        assert by_topic["lab/cbor/x"]["decoded"] == {"temp": 21.5}
        assert by_topic["lab/cbor/x"]["decoder"].startswith("cbor")
        assert not by_topic["lab/plain"].get("decoder", "").startswith("cbor")  # the rule's filter only
    finally:
        sub.stop()


def test_a_bad_rule_in_the_profile_is_a_usage_error_naming_the_profile(mosquitto):
    ProfileStore.load().put(StoredProfile(ConnectionProfile(name="lab", host="127.0.0.1", port=mosquitto.port),
                                          decoder_rules=(DecoderRule.parse("lab/#=protobuf:acme.Missing"),)))
    result = subprocess.run(EVENTSCOPE + ["sub", "--profile", "lab", "-t", "lab/#"], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2 and "profile lab:" in result.stderr and "Traceback" not in result.stderr


def _try_publish(port: int, topic: str, payload: bytes) -> bool:
    """Publish once; True whether or not the broker was up (it may still be restarting)."""
    try:
        publish_raw(port, [(topic, payload)])
    except OSError:
        pass
    return True


def test_sub_forgets_sparkplug_aliases_when_the_broker_comes_back(mosquitto_factory):
    broker = mosquitto_factory()
    sub = _Sub(["--port", str(broker.port), "-t", "spBv1.0/#", "--decode", "spBv1.0/#=sparkplug"])
    seq = iter(range(1, 10_000))

    def data() -> bytes:
        return encode_payload([MetricValue(1.5, "Double", alias=7)], seq=next(seq) % 256)

    def names() -> list[str]:
        return [line["decoded"]["metrics"][0]["name"] for line in sub.collected() if "NDATA" in line["topic"]]

    try:
        birth = encode_payload([MetricValue(0.0, "Double", name="Temperature", alias=7)], seq=0)
        publish_raw(broker.port, [("spBv1.0/g/NBIRTH/n", birth), ("spBv1.0/g/NDATA/n", data())])
        wait_until(lambda: names() == ["Temperature"], 20, message="the alias named by the BIRTH")
        broker.restart()
        # Published until the restarted sub gets one: it reconnects and subscribes again on its own.
        wait_until(lambda: _try_publish(broker.port, "spBv1.0/g/NDATA/n", data()) and len(names()) >= 2, 30,
                   interval=0.3, message="a DATA after the reconnect")
        assert names()[1] == unknown_alias_name(7)  # the old BIRTH's names no longer hold
        assert sub.proc.poll() is None
    finally:
        sub.stop()
