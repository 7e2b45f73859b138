"""The core stream: topic filter, regions, capped window, pause, and re-filtering, fed with records."""

from __future__ import annotations

import subprocess

import pytest

from eventscope.core.models.region_stats import RegionStats
from eventscope.core.models.stream import Stream
from eventscope.core.models.stream_filter import StreamFilter
from eventscope.core.mqtt.ingest import IngestBuffer
from eventscope.core.mqtt.session import MqttSession
from eventscope.core.profile import ConnectionProfile
from eventscope.core.records import MessageRecord
from tests.conftest import wait_until
from tests.helpers.region_topics import REGION_TOPICS


def rec(topic: str, payload: bytes = b"x", t: float = 0.0) -> MessageRecord:
    return MessageRecord(topic=topic, payload=payload, received=t)


def test_region_selection_keeps_exactly_the_matching_rows_in_order():
    stream = Stream(StreamFilter("+/hello/request", regions=frozenset({"us-east", "eu-west"})))
    change = stream.apply([rec(t, str(i).encode()) for i, t in enumerate(REGION_TOPICS)])
    assert [r.topic for r in stream.records()] == ["us-east/hello/request", "eu-west/hello/request"]
    assert (change.evicted, change.appended) == (0, 2)
    assert set(change.new_regions) == {"us-east", "eu-west", "ap-south"}  # discovered, even when not selected
    assert stream.region_stats.count("ap-south") == 1


def test_region_level_one():
    stream = Stream(StreamFilter("fleet/+/hello/request", region_level=1, regions=frozenset({"us-east"})))
    stream.apply([rec("fleet/us-east/hello/request"), rec("fleet/eu-west/hello/request"), rec("us-east/hello/request")])
    assert [r.topic for r in stream.records()] == ["fleet/us-east/hello/request"]
    assert stream.region_stats.regions == ["us-east", "eu-west"]


def test_capped_window_reports_evicted_and_appended_ranges_per_batch():
    stream = Stream(StreamFilter("+/hello/request"), capacity=5)
    stream.apply([rec("a/hello/request", str(i).encode()) for i in range(4)])
    change = stream.apply([rec("b/hello/request", str(i).encode()) for i in range(3)])
    assert (change.evicted, change.appended) == (2, 3)
    assert change.evicted_range == (0, 1)
    assert change.appended_range(stream.row_count) == (2, 4)
    assert [r.payload for r in stream.records()] == [b"2", b"3", b"0", b"1", b"2"]
    # Absolute row numbers moved on by what was evicted: the workspace's deltas count on it.
    assert stream.first_row == 2


def test_batch_larger_than_capacity_keeps_the_newest():
    stream = Stream(StreamFilter("#"), capacity=3)
    stream.apply([rec("t", b"old")])
    change = stream.apply([rec("t", str(i).encode()) for i in range(10)])
    assert [r.payload for r in stream.records()] == [b"7", b"8", b"9"]
    assert (change.evicted, change.appended) == (1, 3)


def test_eviction_only_removes_visible_rows_it_owns():
    stream = Stream(StreamFilter("+/x", regions=frozenset({"a"})), capacity=3)
    stream.apply([rec("b/x"), rec("a/x", b"1"), rec("b/x")])
    change = stream.apply([rec("b/x")])  # evicts the hidden b/x only
    assert (change.evicted, change.appended) == (0, 0)
    change = stream.apply([rec("b/x")])  # now evicts the visible a/x
    assert (change.evicted, change.appended) == (1, 0)
    assert stream.row_count == 0


def test_changing_regions_refilters_the_window_at_once():
    stream = Stream(StreamFilter("+/hello/request"))
    stream.apply([rec(t) for t in REGION_TOPICS])
    assert stream.row_count == 3
    change = stream.set_regions({"ap-south"})
    assert change.reset
    assert [r.topic for r in stream.records()] == ["ap-south/hello/request"]
    stream.set_regions(())
    assert stream.row_count == 3  # history kept: nothing was lost by narrowing


def test_text_search_and_new_topic_filter():
    stream = Stream(StreamFilter("#"))
    stream.apply([rec("a/1", b"hello"), rec("b/2", b"world")])
    stream.set_text("wor")
    assert [r.topic for r in stream.records()] == ["b/2"]
    stream.set_filter(StreamFilter("c/#"))
    assert stream.row_count == 0 and stream.window_size == 0


def test_pause_keeps_recording_and_resume_loses_nothing():
    stream = Stream(StreamFilter("#"), capacity=100)
    stream.apply([rec("t", b"0")])
    stream.pause()
    change = stream.apply([rec("t", str(i).encode()) for i in range(1, 6)])
    assert change.appended == 0 and change.waiting == 5
    assert stream.row_count == 1
    assert stream.region_stats.count("t") == 6  # counts keep going while paused
    change = stream.resume()
    assert change.appended == 5
    assert [r.payload for r in stream.records()] == [str(i).encode() for i in range(6)]


def test_region_rates_decay():
    stats = RegionStats(window=5)
    stats.note_batch({"us": 50}, now=100.0)
    stats.note_batch({"us": 50}, now=101.0)
    assert stats.rate("us", now=101.0) == pytest.approx(100.0)
    assert stats.rate("us", now=110.0) == 0.0
    assert stats.count("us") == 100


def test_region_filtering_with_real_mosquitto(mosquitto, mosquitto_pub):
    buffer = IngestBuffer()
    session = MqttSession(ConnectionProfile(host="127.0.0.1", port=mosquitto.port), buffer=buffer)
    session.start()
    try:
        assert session.wait_connected(10)
        session.subscribe("#").result(10)
        session.subscribe("$sys/#").result(10)  # so the $-topic really arrives and must be rejected
        for i, topic in enumerate(REGION_TOPICS + ["done/marker"]):
            subprocess.run([mosquitto_pub, "-p", str(mosquitto.port), "-t", topic, "-m", str(i), "-q", "1"], check=True)
        stream = Stream(StreamFilter("+/hello/request", regions=frozenset({"us-east", "eu-west"})))
        seen: list[MessageRecord] = []

        def flushed() -> bool:
            batch = buffer.drain()
            seen.extend(batch)
            stream.apply(batch)
            return any(r.topic == "done/marker" for r in seen)

        wait_until(flushed, message="all test messages")
        assert any(r.topic.startswith("$sys") for r in seen)
        assert [(r.topic, r.payload) for r in stream.records()] == [
            ("us-east/hello/request", b"0"), ("eu-west/hello/request", b"1")]
    finally:
        session.stop()
