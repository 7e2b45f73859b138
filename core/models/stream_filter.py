"""Which messages a stream shows: one subscription filter, a region level, regions, and text."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from eventscope.core.records import MessageRecord
from eventscope.core.topics import FilterSet, region_of, validate_filter


@dataclass
class StreamFilter:
    """A compiled stream filter.

    ``topic_filter`` is an MQTT filter, compiled once into paho's matcher. ``region_level``
    is the topic level that names the region (0 = first); with ``region_from_broker`` the
    region is instead the broker's own (``broker_regions`` maps broker to region; a broker
    without one is its own region). ``hidden_regions`` leaves regions out (the window's unticked
    chips; new regions show). ``regions`` narrows to chosen
    regions and ``brokers`` to chosen brokers (empty = all). ``text`` matches topic or payload,
    as a substring or, with ``regex``, a regular expression.
    """

    topic_filter: str = "+/hello/request"
    region_level: int = 0
    regions: frozenset[str] = field(default_factory=frozenset)
    text: str = ""
    regex: bool = False
    match_payload: bool = True
    brokers: frozenset[str] = field(default_factory=frozenset)
    hidden_regions: frozenset[str] = field(default_factory=frozenset)
    region_from_broker: bool = False
    broker_regions: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        validate_filter(self.topic_filter)
        if self.region_level < 0:
            raise ValueError("region level must be 0 or more")
        self.regions = frozenset(self.regions)
        self.hidden_regions = frozenset(self.hidden_regions)
        self.brokers = frozenset(self.brokers)
        self.broker_regions = tuple(sorted(dict(self.broker_regions).items()))
        self._broker_region = {broker: region for broker, region in self.broker_regions if region}
        self._matcher = FilterSet([self.topic_filter])
        self._pattern = None
        if self.text and self.regex:
            try:
                self._pattern = re.compile(self.text)
            except re.error as exc:
                raise ValueError(f"Invalid regular expression {self.text!r}: {exc}") from exc
        self._needle = self.text.encode("utf-8") if self.text and not self.regex else b""

    def matches_topic(self, topic: str) -> bool:
        return self._matcher.matches(topic)

    def region(self, record: MessageRecord) -> str:
        if self.region_from_broker:
            return self._broker_region.get(record.broker_id) or record.broker_id
        return region_of(record.topic, self.region_level)

    def region_shown(self, region: str) -> bool:
        return (not self.regions or region in self.regions) and region not in self.hidden_regions

    @property
    def region_key(self) -> tuple:
        """What decides a record's region: when it changes, region counts start again."""
        return (True, self.broker_regions) if self.region_from_broker else (False, self.region_level)

    def accepts(self, record: MessageRecord) -> bool:
        """Topic filter, region selection and text, in cheapest-first order."""
        if not self._matcher.matches(record.topic):
            return False
        if (self.regions or self.hidden_regions) and not self.region_shown(self.region(record)):
            return False
        if self.brokers and record.broker_id not in self.brokers:
            return False
        return self.matches_text(record)

    def matches_text(self, record: MessageRecord) -> bool:
        if not self.text:
            return True
        if self._pattern is not None:
            if self._pattern.search(record.topic):
                return True
            return self.match_payload and bool(self._pattern.search(record.payload.decode("utf-8", "replace")))
        if self.text in record.topic:
            return True
        return self.match_payload and self._needle in record.payload
