"""PUBLISH properties encoded by Eventscope are byte for byte what paho's own ``Properties`` would send."""

from __future__ import annotations

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from eventscope.core.mqtt.publish_properties import encode_publish_properties, to_publish_properties
from eventscope.core.records import NO_PROPERTIES, MessageProperties


def paho_packed(props: MessageProperties) -> bytes:
    out = Properties(PacketTypes.PUBLISH)
    if props.response_topic:
        out.ResponseTopic = props.response_topic
    if props.correlation_data is not None:
        out.CorrelationData = props.correlation_data
    if props.content_type:
        out.ContentType = props.content_type
    if props.payload_format_indicator is not None:
        out.PayloadFormatIndicator = props.payload_format_indicator
    if props.message_expiry_interval:
        out.MessageExpiryInterval = props.message_expiry_interval
    if props.user_properties:
        out.UserProperty = [tuple(p) for p in props.user_properties]
    return out.pack()


@pytest.mark.parametrize("props", [
    MessageProperties(response_topic="us-east/hello/response", correlation_data=b"c1"),
    MessageProperties(correlation_data=b"", content_type="application/json", payload_format_indicator=1),
    MessageProperties(message_expiry_interval=4_000_000_000, user_properties=(("trace", "ünïcode ✓"), ("a", ""))),
    MessageProperties(response_topic="r/" + "x" * 200, correlation_data=bytes(range(256)) * 2,
                      user_properties=tuple((f"k{i}", "v" * i) for i in range(40))),  # a body past 127 bytes
])
def test_the_bytes_equal_pahos(props):
    assert encode_publish_properties(props) == paho_packed(props)
    packed = to_publish_properties(props)
    assert packed is not None and packed.pack() == paho_packed(props) and "packed" in str(packed)


def test_no_properties_send_none_and_bad_values_are_refused():
    assert to_publish_properties(None) is None and to_publish_properties(NO_PROPERTIES) is None
    with pytest.raises(ValueError, match="0 or 1"):
        encode_publish_properties(MessageProperties(payload_format_indicator=2))
    with pytest.raises(ValueError, match="65,535"):
        encode_publish_properties(MessageProperties(correlation_data=b"x" * 70_000))
