"""Topic and filter validation (MQTT 5 section 4.7) and matching with the $ rule."""

import pytest

from eventscope.core.models.stream_filter import StreamFilter
from eventscope.core.records import MessageRecord
from eventscope.core.topics import FilterSet, TopicError, filter_matches, region_of, validate_filter, validate_topic


@pytest.mark.parametrize("topic_filter,reason", [
    ("a/#/b", "last level"), ("a+", "whole level"), ("a/b#", "whole level"), ("", "empty"),
    ("a\x00", "NUL"), ("x" * 65536, "65535"),
])
def test_invalid_filters_say_why(topic_filter, reason):
    with pytest.raises(TopicError, match=reason):
        validate_filter(topic_filter)


@pytest.mark.parametrize("topic", ["a/+", "#", "a/#", "", "a\x00b"])
def test_invalid_topics_are_refused(topic):
    with pytest.raises(TopicError):
        validate_topic(topic)


@pytest.mark.parametrize("topic_filter", ["#", "+", "+/hello/request", "a/+/c/#", "$SYS/#", "/"])
def test_valid_filters_pass(topic_filter):
    assert validate_filter(topic_filter) == topic_filter


@pytest.mark.parametrize("topic_filter,topic,expected", [
    ("+/hello/request", "us-east/hello/request", True),
    ("+/hello/request", "us-east/hello/request/extra", False),
    ("+/hello/request", "us-east/other/request", False),
    ("+/hello/request", "$sys/hello/request", False),
    ("#", "$SYS/broker/uptime", False),
    ("$SYS/#", "$SYS/broker/uptime", True),
    ("a/#", "a", True),
])
def test_matching_follows_the_spec_including_dollar_topics(topic_filter, topic, expected):
    assert filter_matches(topic_filter, topic) is expected


def test_filter_set_reports_every_matching_filter():
    filters = FilterSet(["a/#", "a/+/c", "b/#"])
    assert sorted(filters.matching_filters("a/b/c")) == ["a/#", "a/+/c"]
    filters.remove("a/#")
    assert filters.matching_filters("a/b/c") == ["a/+/c"]


def test_region_is_a_configurable_level():
    assert region_of("us-east/hello/request") == "us-east"
    assert region_of("fleet/eu-west/hello", 1) == "eu-west"
    assert region_of("short", 3) == ""


def test_stream_filter_narrows_by_region_and_text():
    f = StreamFilter("+/hello/request", regions=frozenset({"us-east"}), text="ping")
    assert f.accepts(MessageRecord("us-east/hello/request", b"ping 1"))
    assert not f.accepts(MessageRecord("eu-west/hello/request", b"ping 1"))
    assert not f.accepts(MessageRecord("us-east/hello/request", b"pong"))
    with pytest.raises(ValueError, match="regular expression"):
        StreamFilter("#", text="(", regex=True)
