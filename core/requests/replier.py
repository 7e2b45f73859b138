"""Serve requests: answer every message on a filter from a session tap on the network thread.

A reply goes to the request's ResponseTopic with its CorrelationData copied (MQTT 5); a
request without a ResponseTopic (MQTT 3.1.1, or a plain publish) is answered on the fixed
reply topic, as in the "hello/request" / "hello/response" pattern. The replier never waits
for a GUI: it answers as soon as paho hands over the message.

Events (optional ``on_served(request, reply_topic, reply_payload)`` callable, called on the
network thread once per request answered).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timezone

from eventscope.core.mqtt.session import MqttSession
from eventscope.core.payload_text import decode_utf8
from eventscope.core.records import MessageProperties, MessageRecord
from eventscope.core.topics import FilterSet, region_of, validate_topic

log = logging.getLogger(__name__)

DEFAULT_REQUEST_FILTER = "+/hello/request"
DEFAULT_FIXED_REPLY_TOPIC = "hello/response"

Handler = Callable[[MessageRecord], "bytes | str"]
ServedListener = Callable[[MessageRecord, str, bytes], None]


def echo_handler(request: MessageRecord) -> bytes:
    """Answer with the request's own payload."""
    return request.payload


def fixed_reply_handler(text: str) -> Handler:
    """A handler that always answers ``text``."""
    data = text.encode("utf-8")
    return lambda request: data


def demo_reply_handler(request: MessageRecord) -> str:
    """JSON naming the region served (topic level 0), the request text and the server time."""
    text = decode_utf8(request.payload)
    return json.dumps({
        "region": region_of(request.topic, 0),
        "request": text if text is not None else request.payload.decode("utf-8", "replace"),
        "served_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
    })


class Replier:
    """Answers requests that arrive on ``topic_filter`` with ``handler(request)``.

    ``served`` counts replies sent; ``failed`` counts handler or publish errors;
    ``ignored_retained`` counts retained (stale) requests, which are never answered.
    """

    def __init__(
        self,
        session: MqttSession,
        topic_filter: str = DEFAULT_REQUEST_FILTER,
        fixed_reply_topic: str = DEFAULT_FIXED_REPLY_TOPIC,
        handler: Handler = echo_handler,
        qos: int = 0,
        on_served: ServedListener | None = None,
    ) -> None:
        self.session = session
        self.topic_filter = topic_filter
        self.fixed_reply_topic = validate_topic(fixed_reply_topic)
        self.handler = handler
        self.qos = qos
        self.on_served = on_served
        self._filters = FilterSet([topic_filter])  # validates; compiled once
        self._count_lock = threading.Lock()
        self.served = 0
        self.failed = 0
        self.ignored_retained = 0
        self._started = False

    def start(self):
        """Tap the session and subscribe. Returns the SUBACK future (concurrent.futures)."""
        if not self._started:
            self._started = True
            self.session.add_tap(self._on_record)
        return self.session.subscribe(self.topic_filter, self.qos)

    def stop(self) -> None:
        if self._started:
            self._started = False
            self.session.remove_tap(self._on_record)
            try:
                self.session.unsubscribe(self.topic_filter)
            except Exception:  # the session may already be stopped
                pass

    def _count(self, name: str) -> None:
        with self._count_lock:
            setattr(self, name, getattr(self, name) + 1)

    def _on_record(self, record: MessageRecord) -> None:
        """Session tap (network thread)."""
        if not self._filters.matches(record.topic):
            return
        props = record.properties
        # A reply that lands on our own filter is not a request (think filter '#'): answering it would loop.
        if record.topic == self.fixed_reply_topic:
            return
        if record.retain:
            self._count("ignored_retained")
            return
        reply_topic = props.response_topic or self.fixed_reply_topic
        try:
            body = self.handler(record)
            data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
            reply_props = (MessageProperties(correlation_data=props.correlation_data)
                           if props.correlation_data is not None else None)
            self.session.publish(reply_topic, data, qos=min(record.qos, 2), properties=reply_props)
        except Exception:
            self._count("failed")
            log.exception("could not answer the request on %s", record.topic)
            return
        self._count("served")
        if self.on_served is not None:
            try:
                self.on_served(record, reply_topic, data)
            except Exception:
                log.exception("on_served listener failed")
