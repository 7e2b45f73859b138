"""The bench's pure parts: the payload header, sequence accounting (loss, duplicates, reordering), topic
templates, the packets it encodes by hand, the latency histogram and the verdict on the tool's ceiling."""

from __future__ import annotations

import io

import pytest

from eventscope.core.bench.ceiling import assess
from eventscope.core.bench.header import HEADER_SIZE, bench_payload, decode_header, encode_header, publisher_id
from eventscope.core.bench.latency import LatencyRecorder
from eventscope.core.bench.publisher import PublisherPlan, PublisherStats, _ChunkTemplate, expected_interval
from eventscope.core.bench.sequence import PublisherStream, SequenceTracker, StreamCounts
from eventscope.core.bench.topic_template import TemplateError, client_topics, subscription_filter
from eventscope.core.mqtt.packet_codec import PUBLISH, PacketReader, decode_connack, encode_publish
from eventscope.core.profile import MQTT_V5, MQTT_V311

# ----- header ------------------------------------------------------------------------------

def test_header_round_trip_and_fixed_size():
    payload = bench_payload(publisher_id(0xBEEF, 7), 1234567, 1_712_345_678_901_234_567, 10_000, 100)
    assert len(payload) == 100 and payload.startswith(b"ESB1beef0007")
    header = decode_header(payload)
    assert header is not None
    assert (header.publisher, header.sequence, header.sent_ns, header.interval_us) == (
        "beef0007", 1234567, 1_712_345_678_901_234_567, 10_000)
    assert len(encode_header("00000000", 0, 0, 0)) == HEADER_SIZE == 49
    assert b"\n" not in payload  # one line per message for line-based tools such as mosquitto_sub


@pytest.mark.parametrize("payload", [b"", b"hello", b"ESB1" + b"z" * 60, b"ESB1beef0007" + b"12345abcde" + b"0" * 40])
def test_other_payloads_have_no_header(payload):
    assert decode_header(payload) is None


def test_header_refuses_what_does_not_fit():
    with pytest.raises(ValueError):
        bench_payload("00000000", 0, 0, 0, HEADER_SIZE - 1)
    with pytest.raises(ValueError):
        encode_header("00000000", 10**10, 0, 0)


# ----- sequence accounting ---------------------------------------------------------------------

def feed(sequence_numbers, first_expected=0) -> PublisherStream:
    stream = PublisherStream(first_expected)
    for number in sequence_numbers:
        stream.note(number)
    return stream


def test_in_order_stream_has_nothing_to_report():
    stream = feed(range(1000))
    assert (stream.received, stream.missing, stream.duplicates, stream.reordered, stream.gaps) == (1000, 0, 0, 0, 0)


def test_a_gap_is_lost_until_its_numbers_arrive_late():
    stream = feed([0, 1, 2, 6, 7])
    assert (stream.missing, stream.gaps) == (3, 1)
    stream.note(4)  # late: splits the gap 3..5 in two
    assert (stream.missing, stream.gaps, stream.reordered) == (2, 2, 1)
    stream.note(3)
    stream.note(5)
    assert (stream.missing, stream.gaps, stream.reordered, stream.duplicates) == (0, 0, 3, 0)
    assert stream.unique == stream.received == 8


def test_a_second_copy_is_a_duplicate_not_a_reorder():
    stream = feed([0, 1, 2, 1, 2, 3, 10, 10])
    assert (stream.duplicates, stream.reordered, stream.missing) == (3, 0, 6)
    assert stream.unique == 5


def test_many_gaps_and_late_arrivals_keep_an_exact_count():
    arrived = [n for n in range(0, 10_000) if n % 7]  # every seventh lost ...
    late = list(range(0, 10_000, 14))  # ... and half of those arrive at the end
    stream = feed(arrived + late)
    lost = len(range(0, 10_000, 7)) - len(late)
    assert stream.missing == lost
    assert stream.reordered == len(late)  # 0 included: the stream started at 1, so 0 is a gap filled late
    assert stream.duplicates == 0


def test_tracker_counts_the_tail_and_silent_publishers_as_lost_when_it_knows_what_was_sent():
    tracker = SequenceTracker(from_zero=True)
    for number in [0, 1, 3, 4]:
        tracker.note(b"p1", number)
    tracker.note(b"p2", 2)  # 0 and 1 never came
    assert tracker.counts() == StreamCounts(received=5, unique=5, lost=3, duplicates=0, reordered=0, gaps=2)
    counts = tracker.counts({b"p1": 10, b"p2": 3, b"p3": 4})
    # p1: 2 in the gap + 5..9 at the tail; p2: 0-1; p3: all 4.
    assert (counts.lost, counts.gaps) == (1 + 5 + 2 + 4, 4)


def test_a_late_joiner_starts_at_the_first_number_it_sees():
    tracker = SequenceTracker(from_zero=False)
    for number in range(500, 510):
        tracker.note(b"p", number)
    assert tracker.counts().lost == 0


# ----- topic templates ---------------------------------------------------------------------------

def test_template_gives_each_client_its_regions_round_robin():
    topics = client_topics("plant/{region}/line-{i}", 3, ("us", "eu"))
    assert topics == [("plant/us/line-0", "plant/eu/line-0"), ("plant/us/line-1", "plant/eu/line-1"),
                      ("plant/us/line-2", "plant/eu/line-2")]
    assert client_topics("bench/{i}", 2) == [("bench/0",), ("bench/1",)]
    assert subscription_filter("plant/{region}/line-{i}") == "plant/+/+"
    assert subscription_filter("a/{{literal}}/b") == "a/{literal}/b"


@pytest.mark.parametrize("template, regions, reason", [
    ("a/{x}", (), "unknown placeholder {x}"),
    ("a/{region}", (), "give --regions"),
    ("a/+/{i}", (), "wildcard"),
    ("a/{i", (), "literal braces"),
    ("a/{i}", ("us",), "needs {region}"),
])
def test_bad_templates_say_why(template, regions, reason):
    with pytest.raises(TemplateError, match=reason.replace("{", r"\{").replace("}", r"\}").replace("+", r"\+")):
        client_topics(template, 1, regions)


def test_chunks_go_round_robin_over_topics_from_the_clients_offset():
    plan = PublisherPlan("0000000a", ("a/us", "a/eu", "a/ap"), 60, topic_offset=1)
    template = _ChunkTemplate(plan, first_topic=1, capacity=4, interval_us=0)
    reader = PacketReader()
    packets = reader.feed(bytes(template.buffer))
    topics = [p.body[2:2 + int.from_bytes(p.body[:2], "big")].decode() for p in packets]
    assert topics == ["a/eu", "a/ap", "a/us", "a/eu"]
    assert template.ends[-1] == len(template.buffer)


# ----- packets -------------------------------------------------------------------------------

@pytest.mark.parametrize("version", [MQTT_V311, MQTT_V5])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_publish_offsets_point_at_the_packet_id_and_the_payload(version, qos):
    payload = bench_payload("00010002", 42, 123, 10_000, 300)  # above 127 bytes: a two-byte length
    packet, id_at, payload_at = encode_publish(b"bench/topic", payload, qos, True, version, packet_id=513)
    assert packet[payload_at:] == payload
    if qos:
        assert packet[id_at:id_at + 2] == (513).to_bytes(2, "big")
    else:
        assert id_at == -1
    [parsed] = PacketReader().feed(packet)
    assert parsed.kind == PUBLISH and parsed.flags == (qos << 1) | 1


def test_connack_receive_maximum_is_read_from_its_properties():
    # Session present 0, reason 0, properties: Receive Maximum 20, Topic Alias Maximum 10, Assigned Client Id "x".
    properties = bytes((0x21, 0, 20, 0x22, 0, 10, 0x12, 0, 1)) + b"x"
    body = bytes((0, 0, len(properties))) + properties
    assert decode_connack(body, MQTT_V5).receive_maximum == 20
    assert decode_connack(bytes((0, 5)), MQTT_V311).reason == 5


# ----- latency -------------------------------------------------------------------------------

def test_coordinated_omission_correction_adds_the_samples_a_stalled_sender_missed():
    plain, corrected = LatencyRecorder(), LatencyRecorder()
    plain.record(50_000)
    corrected.record(50_000, interval_us=10_000)  # 50 ms against a 10 ms interval: 50, 40, 30, 20, 10
    assert plain.count == 1 and corrected.count == 5
    assert corrected.samples == 1 and corrected.corrected == 1
    short = LatencyRecorder()
    short.record(300, interval_us=10_000, count=7)  # shorter than the interval: recorded as it is
    assert short.count == 7


def test_summary_is_in_milliseconds_and_the_distribution_is_hdr_text():
    recorder = LatencyRecorder()
    for value_us in range(1, 1001):
        recorder.record(value_us)
    recorder.record(-5)  # clocks out of step: counted, recorded as 0
    summary = recorder.summary()
    assert summary.as_dict().keys() == {"p50", "p90", "p99", "p999", "max"}
    assert summary.p50 == pytest.approx(0.5, abs=0.002) and summary.max == pytest.approx(1.0, abs=0.002)
    assert recorder.negative == 1
    out = io.BytesIO()
    recorder.write_percentile_distribution(out)
    text = out.getvalue().decode()
    assert text.splitlines()[0].split() == ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
    assert "#[Max     =        1.000, TotalCount     =     1001.000]" in text
    assert LatencyRecorder().summary().max is None


# ----- the tool's ceiling ------------------------------------------------------------------------

def stats(elapsed: float, sending: float, window: float = 0.0, pacing: float = 0.0) -> PublisherStats:
    return PublisherStats(sent=1, started=100.0, finished=100.0 + elapsed, send_seconds=sending,
                          window_seconds=window, pacing_seconds=pacing, cpu_seconds=elapsed - sending - pacing)


def test_ceiling_names_the_broker_when_the_publisher_mostly_waited_for_it():
    ceiling = assess([stats(10.0, 8.0)], offered_rate=200_000, send_rate=120_000)
    assert (ceiling.reached, ceiling.limit) == (False, "broker")
    assert "broker/network" in ceiling.text


def test_ceiling_names_the_tool_when_the_publisher_was_busy():
    ceiling = assess([stats(10.0, 1.0), stats(10.0, 2.0)], offered_rate=0.0, send_rate=90_000)
    assert (ceiling.reached, ceiling.limit) == (None, "publisher")
    assert "publisher CPU" in ceiling.text


def test_ceiling_reached_says_so():
    ceiling = assess([stats(5.0, 0.1, pacing=4.5)], offered_rate=10_000, send_rate=9_990)
    assert (ceiling.reached, ceiling.limit) == (True, None)
    assert expected_interval(10_000) == 0.010 and expected_interval(10) == 0.1 and expected_interval(0) == 0.0
