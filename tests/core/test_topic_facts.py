"""What the audit keeps per topic: the same answers as working them out per message."""

from __future__ import annotations

import hashlib

import pytest

from eventscope.core.audit import topic_facts
from eventscope.core.audit.store import classify
from eventscope.core.audit.topic_facts import TopicFacts, classify_known, hash_known
from eventscope.core.records import REPLAY_PROPERTY, MessageProperties, MessageRecord

TOPICS = ["us-east/hello/request", "us-east/hello/response", "eu/hello/reply", "eu/telemetry/temp", "solo", "",
          "a//request", "été/capteur/reply"]
PROPERTIES = [MessageProperties(), MessageProperties(response_topic="r"), MessageProperties(correlation_data=b"c"),
              MessageProperties(user_properties=((REPLAY_PROPERTY, "1"),), correlation_data=b"c")]


def kind_as_specified(record: MessageRecord) -> str:
    """The rule, spelt out: a replay's property, then MQTT 5's response topic, then the topic's last level,
    then correlation data."""
    props = record.properties
    if any(key == REPLAY_PROPERTY for key, _ in props.user_properties or ()):
        return "replay"
    if props.response_topic:
        return "request"
    last = record.topic.split("/")[-1]
    if last == "request":
        return "request"
    return "reply" if last in ("reply", "response") or props.correlation_data is not None else "other"


def hash_as_specified(topic: str, payload: bytes, correlation: bytes | None) -> int:
    digest = hashlib.blake2b(topic.encode() + b"\x00" + (correlation or b"") + b"\x00" + payload, digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


@pytest.mark.parametrize("level", [0, 1, 4])
def test_facts_and_kinds_match_the_per_message_answers(level):
    from eventscope.core.topics import region_of

    facts = TopicFacts(level)
    for topic in TOPICS:
        region, kind_by_topic, topic_bytes = facts.of(topic)
        assert region == region_of(topic, level)
        assert facts.of(topic) is facts.of(topic)  # kept, not worked out again
        for props in PROPERTIES:
            record = MessageRecord(topic, b"payload", properties=props)
            assert classify_known(props, kind_by_topic) == classify(record) == kind_as_specified(record)
            assert hash_known(topic_bytes, b"payload", props.correlation_data) == hash_as_specified(
                topic, b"payload", props.correlation_data)


def test_a_flood_of_distinct_topics_starts_the_cache_again_and_keeps_answering(monkeypatch):
    monkeypatch.setattr(topic_facts, "MAX_TOPICS", 3)
    facts = TopicFacts()
    answers = [facts.of(f"r{i}/x/request") for i in range(10)]
    assert [a[0] for a in answers] == [f"r{i}" for i in range(10)] and {a[1] for a in answers} == {"request"}
    assert len(facts._facts) <= 3
