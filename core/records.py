"""Immutable message records: the only thing the network thread hands to the rest of the app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

T = TypeVar("T")

# Fixed bookkeeping cost per record, so the ingest buffer's byte cap also bounds
# memory for floods of tiny messages.
RECORD_OVERHEAD_BYTES = 200


# A replayed message carries this MQTT 5 user property ("<replay id>:<audit entry id>"): the audit
# records it as a replay, not as production traffic.
REPLAY_PROPERTY = "eventscope-replay"

@dataclass(frozen=True, slots=True)
class MessageProperties:
    """The MQTT 5 properties Eventscope shows and acts on. All optional."""

    response_topic: str | None = None
    correlation_data: bytes | None = None
    content_type: str | None = None
    payload_format_indicator: int | None = None
    message_expiry_interval: int | None = None
    user_properties: tuple[tuple[str, str], ...] = ()
    subscription_identifiers: tuple[int, ...] = ()
    topic_alias: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """Only the properties that are set, in JSON-friendly form."""
        out: dict[str, Any] = {}
        if self.response_topic is not None:
            out["response_topic"] = self.response_topic
        if self.correlation_data is not None:
            out["correlation_data"] = self.correlation_data.hex()
        if self.content_type is not None:
            out["content_type"] = self.content_type
        if self.payload_format_indicator is not None:
            out["payload_format_indicator"] = self.payload_format_indicator
        if self.message_expiry_interval is not None:
            out["message_expiry_interval"] = self.message_expiry_interval
        if self.user_properties:
            out["user_properties"] = [list(p) for p in self.user_properties]
        if self.subscription_identifiers:
            out["subscription_identifiers"] = list(self.subscription_identifiers)
        return out


NO_PROPERTIES = MessageProperties()


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One received message, as it arrived.

    ``received`` is wall-clock time (for display and storage); ``received_mono`` is
    ``time.monotonic()`` at arrival (for latency). ``mid`` is the broker packet id, needed
    to acknowledge by hand after an audit commit; ``dup`` is the DUP flag of a redelivery.
    """

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    received: float = 0.0
    received_mono: float = 0.0
    properties: MessageProperties = field(default=NO_PROPERTIES)
    broker_id: str = ""
    mid: int = 0
    dup: bool = False

    @property
    def size(self) -> int:
        return len(self.payload)

    @property
    def footprint(self) -> int:
        """Approximate bytes this record holds, for byte-capped buffers."""
        return len(self.payload) + len(self.topic) + RECORD_OVERHEAD_BYTES


def slot_builder(cls: type[T]) -> Callable[..., T]:
    """A function that makes ``cls`` (a frozen dataclass with slots) from every field, in order, positionally.

    A frozen dataclass's __init__ sets each field through object.__setattr__ by name; the slots' own setters,
    called directly, make the same object in about half the time. The ingest path makes a record per message
    in the connection process and again in the window's, and the audit a row per message it stores.
    """
    names = [f.name for f in fields(cls)]  # pyright: ignore[reportArgumentType]
    namespace: dict[str, Any] = {"new": object.__new__, "cls": cls}
    namespace.update({f"set_{name}": cls.__dict__[name].__set__ for name in names})
    source = (f"def build({', '.join(names)}):\n    made = new(cls)\n"
              + "".join(f"    set_{name}(made, {name})\n" for name in names) + "    return made\n")
    exec(source, namespace)  # noqa: S102 (our own field names, as dataclasses itself builds __init__)
    return namespace["build"]


# ``MessageRecord(...)`` with every field given positionally, for the hot paths.
build_record: Callable[..., MessageRecord] = slot_builder(MessageRecord)
