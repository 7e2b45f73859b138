"""Per-topic decoder rules, shared by the window and the CLI.

An ordered list of (topic filter → decoder and options); the first rule whose filter matches a
topic decides. Stored with a profile as ``to_list()`` and read back with ``from_list()``; the CLI
spells one rule ``FILTER=DECODER[:MESSAGE_TYPE]`` (``factory/#=protobuf:acme.Telemetry``).

``DecoderRules.decode(record)`` is what a view or the CLI calls for one message. The order of
choice: the decoder the user picked for this message, then the first matching rule, then an
MQTT 5 content type naming a Protobuf message type, then Sparkplug B for ``spBv1.0/`` topics,
then auto-detection. Sparkplug is never tried on a topic outside ``spBv1.0/``.

No state lives here except what the caller hands in: the compiled schemas (``ProtoSchemas``)
and the Sparkplug session state (``SparkplugState``), which the workspace owns and feeds in
arrival order through ``observe``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Iterable

from paho.mqtt.matcher import MQTTMatcher

from eventscope.core.decoding.decoders import (
    DECODER_LABELS,
    DECODERS,
    PROTOBUF_CONTENT_TYPES,
    DecodedPayload,
    decode_payload,
    display_text,
    failed,
)
from eventscope.core.decoding.protobuf_schemas import ProtoDecodeError, ProtoSchemaError, ProtoSchemas
from eventscope.core.records import MessageRecord
from eventscope.core.sparkplug.payload import SparkplugError, is_sparkplug_topic
from eventscope.core.sparkplug.state import SparkplugState
from eventscope.core.topics import TopicError, validate_filter

RULE_DECODERS = DECODERS + ("protobuf",)
_TYPE_PARAMETER = re.compile(r";\s*(?:messagetype|proto|type)\s*=\s*\"?([\w.]+)\"?", re.IGNORECASE)


class DecoderRuleError(ValueError):
    """A rule that cannot be used; the message says why (a usage error on the command line)."""


@dataclass(frozen=True, slots=True)
class DecoderRule:
    """One rule: messages on ``topic_filter`` are decoded by ``decoder`` (``protobuf`` names its type)."""

    topic_filter: str
    decoder: str
    message_type: str = ""

    def __post_init__(self) -> None:
        try:
            validate_filter(self.topic_filter)
        except TopicError as exc:
            raise DecoderRuleError(f"decoder rule {self.topic_filter!r}: {exc}") from None
        if self.decoder not in RULE_DECODERS:
            raise DecoderRuleError(f"unknown decoder {self.decoder!r}; choose one of {', '.join(RULE_DECODERS)}")
        if self.decoder == "protobuf" and not self.message_type:
            raise DecoderRuleError(f"a protobuf rule names its message type: {self.topic_filter}=protobuf:pkg.Message")
        if self.decoder != "protobuf" and self.message_type:
            raise DecoderRuleError(f"only a protobuf rule takes a message type, not {self.decoder}")

    @classmethod
    def parse(cls, text: str) -> DecoderRule:
        """``FILTER=DECODER[:MESSAGE_TYPE]``, as ``eventscope sub --decode`` takes it."""
        topic_filter, sep, spec = text.rpartition("=")
        if not sep or not topic_filter or not spec:
            raise DecoderRuleError(f"--decode takes FILTER=DECODER[:TYPE], e.g. 'factory/#=protobuf:acme.Telemetry' "
                                   f"or 'spBv1.0/#=sparkplug' (got {text!r})")
        decoder, _, message_type = spec.partition(":")
        return cls(topic_filter, decoder.strip(), message_type.strip())

    def describe(self) -> str:
        """``factory/+/telemetry → protobuf acme.Telemetry``"""
        target = f"{self.decoder} {self.message_type}" if self.message_type else self.decoder
        return f"{self.topic_filter} → {target}"

    def to_dict(self) -> dict[str, str]:
        out = {"filter": self.topic_filter, "decoder": self.decoder}
        if self.message_type:
            out["message_type"] = self.message_type
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DecoderRule:
        if not isinstance(data, dict):
            raise DecoderRuleError(f"a decoder rule is an object with filter and decoder, not {data!r}")
        return cls(str(data.get("filter", "")), str(data.get("decoder", "")), str(data.get("message_type", "")))


def protobuf_type_from_content_type(content_type: str | None) -> str | None:
    """``pkg.Msg`` from ``application/x-protobuf; messageType=pkg.Msg``; None if it names no Protobuf type."""
    if not content_type or content_type.split(";")[0].strip().lower() not in PROTOBUF_CONTENT_TYPES:
        return None
    match = _TYPE_PARAMETER.search(content_type)
    return match.group(1) if match else None


class DecoderRules:
    """Ordered decoder rules with the schemas and Sparkplug state they decode with."""

    def __init__(self, rules: Iterable[DecoderRule] = (), schemas: ProtoSchemas | None = None,
                 sparkplug: SparkplugState | None = None) -> None:
        self.rules = tuple(rules)
        self.schemas = schemas
        self.sparkplug = sparkplug if sparkplug is not None else SparkplugState()
        self._matcher = MQTTMatcher()
        for number, rule in enumerate(self.rules, 1):
            try:
                self._matcher[rule.topic_filter].append(number)
            except KeyError:
                self._matcher[rule.topic_filter] = [number]

    # ----- storage ----------------------------------------------------------------------------
    def to_list(self) -> list[dict[str, str]]:
        return [rule.to_dict() for rule in self.rules]

    @staticmethod
    def rules_from_list(data: Iterable[dict[str, Any]]) -> tuple[DecoderRule, ...]:
        return tuple(DecoderRule.from_dict(item) for item in data or ())

    def check(self) -> None:
        """Raise ``DecoderRuleError`` if a protobuf rule names a type the schemas do not have."""
        for number, rule in enumerate(self.rules, 1):
            if rule.decoder != "protobuf":
                continue
            if self.schemas is None:
                raise DecoderRuleError(f"rule {number} ({rule.describe()}) needs the .proto files: give --proto-path")
            try:
                self.schemas.message_class(rule.message_type)
            except ProtoSchemaError as exc:
                raise DecoderRuleError(f"rule {number} ({rule.describe()}): {exc}") from None

    # ----- choosing ---------------------------------------------------------------------------
    def rule_for(self, topic: str) -> tuple[int, DecoderRule] | None:
        """(1-based rule number, rule) of the first rule matching ``topic``, or None."""
        numbers = [n for matched in self._matcher.iter_match(topic) for n in matched]
        if not numbers:
            return None
        first = min(numbers)
        return first, self.rules[first - 1]

    # ----- decoding ---------------------------------------------------------------------------
    def decode(self, record: MessageRecord, decoder: str = "") -> DecodedPayload:
        """``record``'s payload decoded as the rules say (or as ``decoder``, the user's pick), with
        Sparkplug aliases resolved from the state as it is now. Never raises on bad input."""
        return self._decode(record, decoder, observe=False)

    def observe(self, record: MessageRecord) -> DecodedPayload:
        """``decode``, and apply a Sparkplug message to the session state. Call it once per record,
        in arrival order (the CLI's loop, the workspace tick)."""
        return self._decode(record, "", observe=True)

    def _decode(self, record: MessageRecord, decoder: str, observe: bool) -> DecodedPayload:
        chosen, message_type, description = self._choose(record, decoder)
        payload = record.payload
        try:
            if chosen == "sparkplug":
                return self._sparkplug(record, description, observe)
            if chosen == "protobuf":
                return self._protobuf(payload, message_type, description)
        except (SparkplugError, ProtoDecodeError, ProtoSchemaError) as exc:
            return failed(payload, str(exc), description)
        except RecursionError:
            return failed(payload, f"Not decoded as {DECODER_LABELS[chosen]}: nested too deeply", description)
        decoded = decode_payload(payload, chosen, record.properties.content_type)
        return _with_description(decoded, description)

    def _choose(self, record: MessageRecord, decoder: str) -> tuple[str, str, str]:
        """(decoder, protobuf message type, what chose it)."""
        if decoder and decoder != "auto":  # "protobuf:pkg.Msg" names the type
            chosen, _, message_type = decoder.partition(":")
            return chosen, message_type, "chosen by hand"
        found = self.rule_for(record.topic)
        if found is not None:
            number, rule = found
            return rule.decoder, rule.message_type, f"rule {number}: {rule.describe()}"
        content_type = record.properties.content_type
        message_type = protobuf_type_from_content_type(content_type)
        if message_type:
            if self.schemas is not None and message_type in self.schemas.message_types:
                return "protobuf", message_type, f"content type {content_type}"
            return "protobuf-raw", "", f"content type {content_type} (no schema loaded for {message_type})"
        if is_sparkplug_topic(record.topic):
            return "sparkplug", "", "Sparkplug B topic (spBv1.0/)"
        return "auto", "", ""

    def _sparkplug(self, record: MessageRecord, description: str, observe: bool) -> DecodedPayload:
        if not is_sparkplug_topic(record.topic):
            return failed(record.payload, f"{record.topic!r} is not under spBv1.0/: not decoded as Sparkplug B",
                          description)
        message = self.sparkplug.observe(record) if observe else self.sparkplug.resolve(record)
        return DecodedPayload(display_text(message.value), "sparkplug", value=message.value, notes=message.notes,
                              rule_description=description)

    def _protobuf(self, payload: bytes, message_type: str, description: str) -> DecodedPayload:
        if self.schemas is None:
            raise ProtoSchemaError(f"No .proto files loaded to decode {message_type}")
        value, notes = self.schemas.decode(payload, message_type)
        return DecodedPayload(display_text(value), "protobuf", value=value, notes=notes, rule_description=description)


def export_fields(decoded: DecodedPayload) -> dict:
    """A decode as JSONL/export fields: decoder, decoded (the value), and decoded_by, decode_error, decode_notes when set."""
    out = {"decoder": decoded.decoder, "decoded": decoded.value}
    if decoded.rule_description:
        out["decoded_by"] = decoded.rule_description
    if decoded.error:
        out["decode_error"] = decoded.error
    if decoded.notes:
        out["decode_notes"] = list(decoded.notes)
    return out


def _with_description(decoded: DecodedPayload, description: str) -> DecodedPayload:
    return replace(decoded, rule_description=description) if description else decoded
