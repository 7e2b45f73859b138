"""Sparkplug B: topic names, the payload schema, and payloads as plain values.

The message definitions are written here from the field numbers of the Eclipse Tahu
``sparkplug_b.proto`` (package ``org.eclipse.tahu.protobuf``), built into a private descriptor
pool, so no file under another licence is vendored and no global protobuf state is touched.

Only topics under ``spBv1.0/`` are Sparkplug: ``is_sparkplug_topic`` is the one gate, so plain
text elsewhere is never parsed as Sparkplug (the ``{}`` of other tools).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError
from google.protobuf.unknown_fields import UnknownFieldSet

NAMESPACE = "spBv1.0"
PACKAGE = "org.eclipse.tahu.protobuf"
MESSAGE_TYPES = ("NBIRTH", "NDATA", "NDEATH", "DBIRTH", "DDATA", "DDEATH", "NCMD", "DCMD")

# DataType enum of sparkplug_b.proto.
DATATYPES = ("Unknown", "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64", "Float", "Double",
             "Boolean", "String", "DateTime", "Text", "UUID", "DataSet", "Bytes", "File", "Template", "PropertySet",
             "PropertySetList", "Int8Array", "Int16Array", "Int32Array", "Int64Array", "UInt8Array", "UInt16Array",
             "UInt32Array", "UInt64Array", "FloatArray", "DoubleArray", "BooleanArray", "StringArray",
             "DateTimeArray")
DATATYPE = {name: number for number, name in enumerate(DATATYPES)}
_SIGNED_BITS = {"Int8": 8, "Int16": 16, "Int32": 32, "Int64": 64}
_ARRAY_FORMATS = {"Int8Array": "b", "Int16Array": "h", "Int32Array": "i", "Int64Array": "q", "UInt8Array": "B",
                  "UInt16Array": "H", "UInt32Array": "I", "UInt64Array": "Q", "FloatArray": "f",
                  "DoubleArray": "d", "DateTimeArray": "Q"}


class SparkplugError(ValueError):
    """A payload under ``spBv1.0/`` that is not a Sparkplug B payload; the message says why."""


@dataclass(frozen=True, slots=True)
class SparkplugTopic:
    """``spBv1.0/{group}/{type}/{edge node}[/{device}]``, or ``spBv1.0/STATE/{host}``."""

    group: str
    message_type: str
    edge_node: str = ""
    device: str = ""
    host: str = ""  # STATE only

    @property
    def is_state(self) -> bool:
        return self.message_type == "STATE"

    @property
    def is_device(self) -> bool:
        return self.message_type.startswith("D")

    @property
    def node_key(self) -> tuple[str, str]:
        return self.group, self.edge_node

    @classmethod
    def parse(cls, topic: str) -> SparkplugTopic | None:
        """The topic's parts, or None if it is not a Sparkplug B topic."""
        levels = topic.split("/")
        if len(levels) < 3 or levels[0] != NAMESPACE:
            return None
        if levels[1] == "STATE":
            return cls(group="", message_type="STATE", host="/".join(levels[2:]))
        if len(levels) not in (4, 5) or levels[2] not in MESSAGE_TYPES:
            return None
        device = levels[4] if len(levels) == 5 else ""
        if (levels[2].startswith("D")) != bool(device):
            return None  # a device message needs a device level, a node message must not have one
        return cls(group=levels[1], message_type=levels[2], edge_node=levels[3], device=device)


def is_sparkplug_topic(topic: str) -> bool:
    return topic.startswith(NAMESPACE + "/")


# ----- the schema -------------------------------------------------------------------------------
_F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {"uint32": _F.TYPE_UINT32, "uint64": _F.TYPE_UINT64, "float": _F.TYPE_FLOAT, "double": _F.TYPE_DOUBLE,
            "bool": _F.TYPE_BOOL, "string": _F.TYPE_STRING, "bytes": _F.TYPE_BYTES}
_VALUE_ONEOF = "value"


def _message(parent, name: str, fields: list[tuple], extensions_from: int | None = None):
    """Add message ``name`` to ``parent`` with (name, number, type, repeated[, in_value_oneof]) fields."""
    message = parent.add()
    message.name = name
    has_oneof = any(len(spec) > 4 and spec[4] for spec in fields)
    if has_oneof:
        message.oneof_decl.add().name = _VALUE_ONEOF
    for spec in fields:
        field_name, number, kind, repeated = spec[:4]
        field = message.field.add(name=field_name, number=number)
        field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
        if kind in _SCALARS:
            field.type = _SCALARS[kind]
        else:
            field.type = _F.TYPE_MESSAGE
            field.type_name = f".{PACKAGE}.{kind}"
        if len(spec) > 4 and spec[4]:
            field.oneof_index = 0
    if extensions_from is not None:
        message.extension_range.add(start=extensions_from, end=536870912)
    return message


_VALUE_NAMES = {"uint32": "int_value", "uint64": "long_value", "float": "float_value", "double": "double_value",
                "bool": "boolean_value", "string": "string_value", "bytes": "bytes_value"}


def _value_fields(first: int, kinds: tuple[str, ...]) -> list[tuple]:
    """The ``value`` oneof's scalar members, numbered from ``first`` in the order the schema gives."""
    return [(_VALUE_NAMES[kind], first + i, kind, False, True) for i, kind in enumerate(kinds)]


def _build_schema():
    file = descriptor_pb2.FileDescriptorProto(name="eventscope/sparkplug_b.proto", package=PACKAGE, syntax="proto2")
    payload = _message(file.message_type, "Payload", [
        ("timestamp", 1, "uint64", False), ("metrics", 2, "Payload.Metric", True), ("seq", 3, "uint64", False),
        ("uuid", 4, "string", False), ("body", 5, "bytes", False)], extensions_from=6)
    nested = payload.nested_type
    scalars = ("uint32", "uint64", "float", "double", "bool", "string")

    template = _message(nested, "Template", [
        ("version", 1, "string", False), ("metrics", 2, "Payload.Metric", True),
        ("parameters", 3, "Payload.Template.Parameter", True), ("template_ref", 4, "string", False),
        ("is_definition", 5, "bool", False)], extensions_from=6)
    parameter = _message(template.nested_type, "Parameter", [("name", 1, "string", False), ("type", 2, "uint32", False)]
                         + _value_fields(3, scalars) + [
                             ("extension_value", 9, "Payload.Template.Parameter.ParameterValueExtension", False, True)])
    _message(parameter.nested_type, "ParameterValueExtension", [], extensions_from=1)

    dataset = _message(nested, "DataSet", [
        ("num_of_columns", 1, "uint64", False), ("columns", 2, "string", True), ("types", 3, "uint32", True),
        ("rows", 4, "Payload.DataSet.Row", True)], extensions_from=5)
    cell = _message(dataset.nested_type, "DataSetValue", _value_fields(1, scalars) + [
        ("extension_value", 7, "Payload.DataSet.DataSetValue.DataSetValueExtension", False, True)])
    _message(cell.nested_type, "DataSetValueExtension", [], extensions_from=1)
    _message(dataset.nested_type, "Row", [("elements", 1, "Payload.DataSet.DataSetValue", True)], extensions_from=2)

    property_value = _message(nested, "PropertyValue", [("type", 1, "uint32", False), ("is_null", 2, "bool", False)]
                              + _value_fields(3, scalars) + [
                                  ("propertyset_value", 9, "Payload.PropertySet", False, True),
                                  ("propertysets_value", 10, "Payload.PropertySetList", False, True),
                                  ("extension_value", 11, "Payload.PropertyValue.PropertyValueExtension", False, True)])
    _message(property_value.nested_type, "PropertyValueExtension", [], extensions_from=1)
    _message(nested, "PropertySet", [("keys", 1, "string", True), ("values", 2, "Payload.PropertyValue", True)],
             extensions_from=3)
    _message(nested, "PropertySetList", [("propertyset", 1, "Payload.PropertySet", True)], extensions_from=2)
    _message(nested, "MetaData", [
        ("is_multi_part", 1, "bool", False), ("content_type", 2, "string", False), ("size", 3, "uint64", False),
        ("seq", 4, "uint64", False), ("file_name", 5, "string", False), ("file_type", 6, "string", False),
        ("md5", 7, "string", False), ("description", 8, "string", False)], extensions_from=9)
    metric = _message(nested, "Metric", [
        ("name", 1, "string", False), ("alias", 2, "uint64", False), ("timestamp", 3, "uint64", False),
        ("datatype", 4, "uint32", False), ("is_historical", 5, "bool", False), ("is_transient", 6, "bool", False),
        ("is_null", 7, "bool", False), ("metadata", 8, "Payload.MetaData", False),
        ("properties", 9, "Payload.PropertySet", False)]
        + _value_fields(10, scalars + ("bytes",)) + [
            ("dataset_value", 17, "Payload.DataSet", False, True),
            ("template_value", 18, "Payload.Template", False, True),
            ("extension_value", 19, "Payload.Metric.MetricValueExtension", False, True)])
    _message(metric.nested_type, "MetricValueExtension", [], extensions_from=1)

    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.Payload"))


Payload = _build_schema()


# ----- payloads as plain values -----------------------------------------------------------------
def parse_payload(data: bytes):
    """The ``Payload`` message, or ``SparkplugError`` saying why the bytes are not one.

    Protobuf parses many short texts without error (as unknown fields), so a payload with a
    top-level field the schema does not define, or no bytes at all, is refused too: shown raw
    with the reason, never as an empty message.
    """
    if not data:
        raise SparkplugError("Not a Sparkplug B payload: it is empty")
    message = Payload()
    try:
        message.ParseFromString(data)
    except (DecodeError, RuntimeError) as exc:
        raise SparkplugError(f"Not a Sparkplug B payload ({len(data)} B): {exc}") from None
    unknown = sorted({field.field_number for field in UnknownFieldSet(message)})
    if unknown:
        numbers = ", ".join(map(str, unknown[:10]))
        raise SparkplugError(f"Not a Sparkplug B payload ({len(data)} B): field {numbers} is not in the Sparkplug B "
                             "schema (or has another wire type)")
    return message


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def _array(datatype: str, raw: bytes) -> Any:
    if datatype == "BooleanArray":  # a 4-byte count, then the booleans packed one per bit
        if len(raw) < 4:
            return raw.hex()
        count = struct.unpack_from("<I", raw)[0]
        return [bool(raw[4 + i // 8] >> (7 - i % 8) & 1) for i in range(min(count, (len(raw) - 4) * 8))]
    if datatype == "StringArray":
        return [part.decode("utf-8", "replace") for part in raw.split(b"\x00")[:-1]]
    fmt = _ARRAY_FORMATS[datatype]
    size = struct.calcsize(fmt)
    return list(struct.unpack(f"<{len(raw) // size}{fmt}", raw[: len(raw) - len(raw) % size]))


def typed_value(datatype: int, message) -> Any:
    """A metric's, property's or cell's value as Python, signed and unpacked as its datatype says."""
    which = message.WhichOneof(_VALUE_ONEOF)
    if which is None:
        return None
    value = getattr(message, which)
    if which == "dataset_value":
        return _dataset(value)
    if which == "template_value":
        return {"template_ref": value.template_ref, "is_definition": value.is_definition,
                "metrics": [metric_to_dict(m) for m in value.metrics]}
    if which in ("propertyset_value", "propertysets_value", "extension_value"):
        return str(value)
    return retype(value, DATATYPES[datatype] if 0 <= datatype < len(DATATYPES) else "Unknown")


def retype(value: Any, datatype: str) -> Any:
    """A raw oneof value read as ``datatype``: signed ints from their two's complement, arrays unpacked.
    DATA messages usually leave the datatype out, so the state calls this with the BIRTH's."""
    if datatype in _SIGNED_BITS and isinstance(value, int) and not isinstance(value, bool):
        return _signed(value, _SIGNED_BITS[datatype])
    if datatype.endswith("Array") and isinstance(value, bytes):
        return _array(datatype, value)
    return value


def _dataset(dataset) -> dict:
    types = list(dataset.types)
    rows = [[typed_value(types[i] if i < len(types) else 0, cell) for i, cell in enumerate(row.elements)]
            for row in dataset.rows]
    return {"columns": list(dataset.columns), "types": [DATATYPES[t] if t < len(DATATYPES) else t for t in types],
            "rows": rows}


def properties_to_dict(properties) -> dict:
    """A metric's PropertySet (e.g. ``Quality``) as {key: value}."""
    out = {}
    for key, value in zip(properties.keys, properties.values):
        if value.WhichOneof(_VALUE_ONEOF) == "propertyset_value":
            out[key] = properties_to_dict(value.propertyset_value)
        else:
            out[key] = None if value.is_null else typed_value(value.type, value)
    return out


def metric_to_dict(metric) -> dict:
    """name, alias, datatype, value, timestamp, and the flags and properties that are set."""
    datatype = metric.datatype
    out: dict[str, Any] = {}
    if metric.HasField("name"):
        out["name"] = metric.name
    if metric.HasField("alias"):
        out["alias"] = metric.alias
    out["datatype"] = DATATYPES[datatype] if datatype < len(DATATYPES) else datatype
    out["value"] = None if metric.is_null else typed_value(datatype, metric)
    if metric.HasField("timestamp"):
        out["timestamp"] = metric.timestamp
    for flag in ("is_historical", "is_transient", "is_null"):
        if getattr(metric, flag):
            out[flag] = True
    if metric.HasField("properties"):
        out["properties"] = properties_to_dict(metric.properties)
    return out


# Epoch milliseconds between 2000 and 2100: what Sparkplug's timestamps are meant to be. Anything else
# (a device counting from its boot, seconds instead of ms) is shown as the number it is, and said so.
_EPOCH_MS_RANGE = (946_684_800_000, 4_102_444_800_000)


def timestamp_note(value: dict) -> str:
    """A note when the payload's timestamp is not epoch milliseconds (it is then shown as the number it is)."""
    stamp = value.get("timestamp")
    if not isinstance(stamp, int) or _EPOCH_MS_RANGE[0] <= stamp < _EPOCH_MS_RANGE[1]:
        return ""
    return f"timestamp {stamp} is not epoch milliseconds (shown as the number it is)"


def payload_to_dict(payload) -> dict:
    out: dict[str, Any] = {}
    if payload.HasField("timestamp"):
        out["timestamp"] = payload.timestamp
    if payload.HasField("seq"):
        out["seq"] = payload.seq
    if payload.HasField("uuid"):
        out["uuid"] = payload.uuid
    out["metrics"] = [metric_to_dict(m) for m in payload.metrics]
    if payload.HasField("body"):
        out["body"] = payload.body
    return out


# ----- building payloads (the demo, and edge nodes written in tests) ----------------------------
@dataclass(frozen=True, slots=True)
class MetricValue:
    """One metric to send: a name in a BIRTH, an alias alone in DATA."""

    value: Any
    datatype: str = "Double"
    name: str = ""
    alias: int | None = None


_SETTERS = {"Boolean": "boolean_value", "Float": "float_value", "Double": "double_value", "String": "string_value",
            "Text": "string_value", "UUID": "string_value", "Bytes": "bytes_value"}


def encode_payload(metrics: list[MetricValue], seq: int | None = None, timestamp: int | None = None) -> bytes:
    payload = Payload()
    # Payload is built at run time, so its fields are unknown to a type checker (hence the ignores).
    if timestamp is not None:
        payload.timestamp = timestamp  # pyright: ignore[reportAttributeAccessIssue]
    if seq is not None:
        payload.seq = seq  # pyright: ignore[reportAttributeAccessIssue]
    for item in metrics:
        metric = payload.metrics.add(datatype=DATATYPE[item.datatype])  # pyright: ignore[reportAttributeAccessIssue]
        if item.name:
            metric.name = item.name
        if item.alias is not None:
            metric.alias = item.alias
        if item.value is None:
            metric.is_null = True
        elif item.datatype in _SETTERS:
            setattr(metric, _SETTERS[item.datatype], item.value)
        elif item.datatype in ("Int64", "UInt64", "DateTime"):
            metric.long_value = item.value & (2**64 - 1)
        else:
            metric.int_value = item.value & (2**32 - 1)
    return payload.SerializeToString()
