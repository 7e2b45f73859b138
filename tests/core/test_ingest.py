"""The ingest buffer is bounded by count and bytes, counts drops and never blocks."""

import threading

import pytest

from eventscope.core.mqtt.ingest import IngestBuffer
from eventscope.core.records import RECORD_OVERHEAD_BYTES, MessageRecord
from tests.conftest import wait_until


def _record(i: int, size: int = 10) -> MessageRecord:
    return MessageRecord(topic=f"t/{i}", payload=b"x" * size)


def test_drain_returns_everything_in_order_and_empties():
    buffer = IngestBuffer(max_count=100)
    for i in range(10):
        assert buffer.append(_record(i))
    assert [r.topic for r in buffer.drain()] == [f"t/{i}" for i in range(10)]
    assert buffer.drain() == []
    assert buffer.stats().buffered == 0


def test_count_bound_drops_and_counts():
    buffer = IngestBuffer(max_count=5)
    results = [buffer.append(_record(i)) for i in range(8)]
    assert results == [True] * 5 + [False] * 3
    stats = buffer.stats()
    assert (stats.received, stats.dropped, stats.buffered) == (8, 3, 5)
    assert [r.topic for r in buffer.drain()] == [f"t/{i}" for i in range(5)]  # the oldest are kept


def test_byte_bound_drops_large_records():
    record_bytes = 1000 + 3 + RECORD_OVERHEAD_BYTES
    buffer = IngestBuffer(max_count=1000, max_bytes=record_bytes * 2)
    assert buffer.append(_record(1, 1000))
    assert buffer.append(_record(2, 1000))
    assert not buffer.append(_record(3, 1000))
    assert buffer.stats().buffered_bytes == record_bytes * 2
    buffer.drain()
    assert buffer.append(_record(4, 1000))  # space is freed by a drain


def test_concurrent_appends_lose_nothing_below_the_bound():
    buffer = IngestBuffer(max_count=100_000)
    threads = [threading.Thread(target=lambda n=n: [buffer.append(_record(n * 10_000 + i)) for i in range(5000)])
               for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(buffer.drain()) == 20_000
    assert buffer.stats().dropped == 0


def test_bounds_must_be_positive():
    with pytest.raises(ValueError):
        IngestBuffer(max_count=0)


def test_records_are_immutable():
    record = _record(1)
    with pytest.raises(AttributeError):
        record.topic = "other"  # type: ignore[misc]


def test_a_blocking_buffer_waits_for_room_instead_of_dropping():
    buffer = IngestBuffer(max_count=2, block_when_full=True)
    assert buffer.append(_record(1)) and buffer.append(_record(2))
    done = threading.Event()
    results = []
    appender = threading.Thread(target=lambda: (results.append(buffer.append(_record(3))), done.set()))
    appender.start()
    wait_until(lambda: buffer.stats().stalled == 1, timeout=5, message="the append to wait for room")
    stats = buffer.stats()  # full: the network thread waits, neither queued nor dropped
    assert not done.is_set() and results == []
    assert (stats.received, stats.buffered, stats.dropped) == (3, 2, 0)
    assert [r.topic for r in buffer.drain(1)] == ["t/1"]
    assert done.wait(5) and results == [True]
    assert [r.topic for r in buffer.drain()] == ["t/2", "t/3"]
    stats = buffer.stats()
    assert stats.dropped == 0 and stats.stalled == 1


def test_closing_a_blocking_buffer_releases_the_waiting_thread():
    buffer = IngestBuffer(max_count=1, block_when_full=True)
    buffer.append(_record(1))
    results = []
    appender = threading.Thread(target=lambda: results.append(buffer.append(_record(2))))
    appender.start()
    wait_until(lambda: buffer.stats().stalled == 1, timeout=5, message="the append to wait for room")
    buffer.close()
    appender.join(5)
    assert results == [False] and buffer.stats().dropped == 0  # not stored, not acked: the broker keeps it


def test_extend_counts_what_does_not_fit():
    buffer = IngestBuffer(max_count=3)
    assert buffer.extend([_record(i) for i in range(5)]) == 3
    assert buffer.stats().dropped == 2 and buffer.stats().received == 5
