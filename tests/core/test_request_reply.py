"""Request/reply against a real Mosquitto: correlation, fallback, timeouts, refusals, and 1000 in flight."""

from __future__ import annotations

import asyncio
import json
import subprocess

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from eventscope.core.mqtt.ingest import IngestBuffer
from eventscope.core.profile import MQTT_V5, MQTT_V311, ConnectionProfile
from eventscope.core.requests.replier import Replier, demo_reply_handler, fixed_reply_handler
from eventscope.core.requests.rtt_stats import RttSummary, percentile
from eventscope.core.requests.tracker import RequestRefused, RequestTimeout, RequestTracker
from tests.conftest import wait_until


@pytest.fixture
def open_session(mosquitto):
    started = []

    def make(version: int = MQTT_V5, buffer_messages: bool = False, subscribe_all: bool = False, broker=None):
        from eventscope.core.mqtt.session import MqttSession

        port = (broker or mosquitto).port
        session = MqttSession(ConnectionProfile(host="127.0.0.1", port=port, mqtt_version=version),
                              buffer=IngestBuffer(), buffer_messages=buffer_messages)
        subscribed = session.subscribe("#") if subscribe_all else None
        started.append(session)
        session.start()
        assert session.wait_connected(10), session.status
        if subscribed is not None:
            subscribed.result(10)  # the SUBACK, so nothing published next is missed
        return session

    yield make
    for session in started:
        session.stop()


def _serve(session, **options) -> Replier:
    replier = Replier(session, **options)
    replier.start().result(10)
    return replier


def test_replier_answers_mosquitto_rr(open_session, mosquitto, mosquitto_rr):
    replier = _serve(open_session(), handler=demo_reply_handler)
    done = subprocess.run([mosquitto_rr, "-p", str(mosquitto.port), "-t", "us-east/hello/request",
                           "-e", "rr/reply", "-m", "hi", "-W", "5"], capture_output=True, text=True, timeout=15)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["region"] == "us-east"
    assert answer["request"] == "hi"
    assert answer["served_at"]
    assert replier.served == 1


def test_request_answered_by_independent_paho_replier(open_session, mosquitto):
    seen_properties = []

    def on_message(client, userdata, message):
        props = message.properties
        seen_properties.append((getattr(props, "UserProperty", None), getattr(props, "ContentType", None)))
        reply = Properties(PacketTypes.PUBLISH)
        reply.CorrelationData = props.CorrelationData
        client.publish(props.ResponseTopic, b"re:" + message.payload, qos=1, properties=reply)

    raw = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    raw.on_message = on_message
    subscribed = []
    raw.on_subscribe = lambda *a: subscribed.append(True)
    raw.connect("127.0.0.1", mosquitto.port)
    raw.loop_start()
    try:
        raw.subscribe("svc/+/request", qos=1)
        wait_until(lambda: subscribed, message="raw replier SUBACK")
        tracker = RequestTracker(open_session())
        reply = asyncio.run(tracker.request("svc/eu/request", "ping", qos=1, user_properties=(("k", "v"),),
                                            content_type="text/plain", timeout=5))
    finally:
        raw.loop_stop()
        raw.disconnect()
    assert reply.payload == b"re:ping"
    assert reply.correlated and len(reply.correlation_id) == 32
    assert reply.reply_topic == f"eventscope/{tracker.session.client_id}/reply"
    assert 0 < reply.rtt < 5
    assert seen_properties == [([("k", "v")], "text/plain")]


def test_stale_retained_message_on_reply_topic_is_never_the_reply(open_session, mosquitto, mosquitto_pub):
    subprocess.run([mosquitto_pub, "-p", str(mosquitto.port), "-t", "stale/reply", "-m", "STALE", "-r", "-q", "1"],
                   check=True, timeout=10)
    _serve(open_session(), topic_filter="+/hello/request", handler=fixed_reply_handler("fresh"))
    tracker = RequestTracker(open_session())
    reply = asyncio.run(tracker.request("us-west/hello/request", "x", reply_topic="stale/reply"))
    assert reply.payload == b"fresh"
    assert tracker.stats().retained_ignored == 1


def test_thousand_concurrent_requests_each_get_their_own_reply(open_session):
    _serve(open_session())  # echo
    tracker = RequestTracker(open_session())

    async def all_requests():
        return await asyncio.gather(*(tracker.request("ap-south/hello/request", f"request-{i}", timeout=20)
                                      for i in range(1000)))

    replies = asyncio.run(all_requests())
    assert [r.payload.decode() for r in replies] == [f"request-{i}" for i in range(1000)]
    assert len({r.correlation_id for r in replies}) == 1000
    stats = tracker.stats()
    assert (stats.answered, stats.in_flight, stats.strays) == (1000, 0, 0)


def test_duplicate_copy_from_overlapping_subscription_resolves_once(open_session):
    _serve(open_session())
    session = open_session(subscribe_all=True, buffer_messages=True)  # like the GUI: '#' plus the reply topic
    session.subscribe("#").result(10)
    tracker = RequestTracker(session)
    reply = asyncio.run(tracker.request("us-east/hello/request", "once"))
    assert reply.payload == b"once"
    wait_until(lambda: tracker.stats().duplicates == 1, message="the broker's second copy of the reply")
    assert tracker.stats().strays == 0


def test_timeout_is_a_clear_error(open_session):
    tracker = RequestTracker(open_session())

    async def ask():
        await tracker.request("nobody/hello/request", "anyone?", timeout=0.3)

    with pytest.raises(RequestTimeout, match=r"No reply on .* within 0.3 s"):
        asyncio.run(ask())
    assert tracker.stats().in_flight == 0


@pytest.mark.parametrize("topic, reason", [("us-east/+/request", "wildcard"), ("a/#", "wildcard"), ("", "empty")])
def test_bad_topic_refused_before_sending(open_session, topic, reason):
    watcher = open_session(buffer_messages=True)
    watcher.subscribe("#").result(10)
    tracker = RequestTracker(open_session())
    with pytest.raises(RequestRefused, match=reason):
        asyncio.run(tracker.request(topic, "x"))
    assert tracker.stats().in_flight == 0
    assert not [r for r in watcher.buffer.drain() if r.topic.startswith(("us-east", "a"))]


def test_payload_over_broker_maximum_packet_size_refused(open_session, mosquitto_factory):
    small = mosquitto_factory("allow_anonymous true\nmax_packet_size 2000\n")
    session = open_session(broker=small)
    assert session.max_packet_size == 2000
    tracker = RequestTracker(session)
    with pytest.raises(RequestRefused, match="maximum packet size of 2000"):
        asyncio.run(tracker.request("us-east/hello/request", b"x" * 5000))


def test_mqtt311_fallback_end_to_end_is_uncorrelated(open_session):
    replier = _serve(open_session(MQTT_V311), handler=fixed_reply_handler("hello back"))
    tracker = RequestTracker(open_session(MQTT_V311))
    reply = asyncio.run(tracker.request("us-east/hello/request", "hello"))
    assert reply.payload == b"hello back"
    assert reply.reply_topic == "hello/response"
    assert not reply.correlated and reply.status == "uncorrelated"
    assert replier.served == 1


def test_rtt_summary_percentiles():
    summary = RttSummary.from_samples([i / 1000 for i in range(1, 101)], failures=2, elapsed=2.0)
    assert (summary.minimum, summary.p50, summary.p99, summary.maximum) == (0.001, 0.05, 0.099, 0.1)
    assert summary.throughput == 50
    assert "2 failed" in summary.text()
    assert percentile([], 0.5) != percentile([], 0.5)  # NaN for no samples
