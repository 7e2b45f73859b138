"""MQTT topic names, filters and region levels.

Validation follows MQTT 5 section 4.7. Matching uses paho's own ``MQTTMatcher`` trie,
compiled once per filter set; ``topic_matches_sub`` is avoided on hot paths because it
builds a new trie on every call.
"""

from __future__ import annotations

from collections.abc import Iterable

from paho.mqtt.matcher import MQTTMatcher

MAX_TOPIC_BYTES = 65535


class TopicError(ValueError):
    """A topic name or filter that MQTT does not allow. The message says why."""


def _check_common(text: str, what: str) -> None:
    if not isinstance(text, str):
        raise TopicError(f"{what} must be text")
    if text == "":
        raise TopicError(f"{what} is empty")
    if "\x00" in text:
        raise TopicError(f"{what} contains a NUL character")
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) > MAX_TOPIC_BYTES:
        raise TopicError(f"{what} is {len(encoded)} bytes; MQTT allows at most {MAX_TOPIC_BYTES}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise TopicError(f"{what} is not valid UTF-8") from exc


def validate_topic(topic: str) -> str:
    """Check a topic name for publishing. Returns it unchanged or raises ``TopicError``."""
    _check_common(topic, "Topic")
    if "+" in topic or "#" in topic:
        raise TopicError(f"Topic {topic!r} contains a wildcard (+ or #); wildcards are only allowed in subscription filters")
    return topic


def validate_filter(topic_filter: str) -> str:
    """Check a subscription filter. Returns it unchanged or raises ``TopicError``."""
    _check_common(topic_filter, "Filter")
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if "#" in level:
            if level != "#":
                raise TopicError(f"Filter {topic_filter!r}: '#' must occupy a whole level")
            if index != len(levels) - 1:
                raise TopicError(f"Filter {topic_filter!r}: '#' must be the last level")
        if "+" in level and level != "+":
            raise TopicError(f"Filter {topic_filter!r}: '+' must occupy a whole level")
    return topic_filter


def region_of(topic: str, level: int = 0) -> str:
    """The region named by topic level ``level`` (0-based), or '' if the topic is shorter."""
    levels = topic.split("/")
    return levels[level] if 0 <= level < len(levels) else ""


class FilterSet:
    """A set of subscription filters compiled once into paho's matcher trie.

    ``matches(topic)`` follows MQTT's ``$`` rule (section 4.7.2): a filter starting
    with a wildcard never matches a topic starting with ``$``.
    """

    def __init__(self, filters: Iterable[str] = ()) -> None:
        self._matcher = MQTTMatcher()
        self._filters: list[str] = []
        for topic_filter in filters:
            self.add(topic_filter)

    @property
    def filters(self) -> tuple[str, ...]:
        return tuple(self._filters)

    def add(self, topic_filter: str) -> None:
        validate_filter(topic_filter)
        if topic_filter not in self._filters:
            self._filters.append(topic_filter)
            self._matcher[topic_filter] = topic_filter

    def remove(self, topic_filter: str) -> None:
        if topic_filter in self._filters:
            self._filters.remove(topic_filter)
            del self._matcher[topic_filter]

    def __bool__(self) -> bool:
        return bool(self._filters)

    def matching_filters(self, topic: str) -> list[str]:
        """Every filter in the set that matches ``topic`` (an empty list if none)."""
        return list(self._matcher.iter_match(topic))

    def matches(self, topic: str) -> bool:
        for _ in self._matcher.iter_match(topic):
            return True
        return False


def filter_matches(topic_filter: str, topic: str) -> bool:
    """One-off match of a single filter, with the ``$`` rule. Not for hot paths."""
    return FilterSet([topic_filter]).matches(topic)
