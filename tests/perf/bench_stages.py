"""Where an ingested message's time goes: the cost of each stage on its own, per message.

    python -m tests.perf.bench_stages [--messages 200000] [--size 60] [--topics 2000]

Telemetry over ``--topics`` topics, QoS 0, ``--size``-byte payloads, MQTT 5 and 3.1.1. Each stage
runs alone in this process, flat out, on pre-encoded packets or pre-built records, with no broker
and no other thread, so the figures add up to a single thread's cost of the whole path:

1. parse: paho's own read path (``on_message`` counting only), from a socket that serves the
   encoded PUBLISH packets from memory;
2. parse + record: Eventscope's read path (the session's client, its fast PUBLISH decoder and the
   ``MessageRecord`` it queues);
3. transfer: what crosses from the connection process to the window's (pack, pickle, unpickle,
   unpack; the pipe's own system calls are not in it);
4. tree apply, 5. stream apply ('#', every record matches): batches of a 30 Hz tick at 30k msg/s;
6. audit: the SQLite store's ``write_batch`` of the same batches (only audited filters pay it).

The connection process runs 1–3 and 6, the window's process 3–5. Quote one run's figures side by
side: the machine is shared.
"""

from __future__ import annotations

import argparse
import pickle
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt

from eventscope.core.audit.store import AuditStore
from eventscope.core.connections.wire import pack, unpack
from eventscope.core.models.stream import Stream
from eventscope.core.models.stream_filter import StreamFilter
from eventscope.core.models.topic_forest import TopicForest
from eventscope.core.mqtt.buffered_socket import BufferedSocket
from eventscope.core.mqtt.ingest import IngestBuffer
from eventscope.core.mqtt.packet_codec import encode_publish
from eventscope.core.mqtt.session import MqttSession
from eventscope.core.profile import MQTT_V5, MQTT_V311, ConnectionProfile
from eventscope.core.records import MessageRecord
from tests.perf.loadgen import payload_for, telemetry_topics

TICK_BATCH = 1_000  # records per tick at 30k msg/s and 30 Hz


class _MemorySocket:
    """Serves pre-encoded bytes to paho's reads, as a socket with everything already arrived would."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._at = 0

    def recv(self, size: int) -> bytes:
        chunk = bytes(self._data[self._at:self._at + size])
        self._at += len(chunk)
        return chunk

    def pending(self) -> int:
        return len(self._data) - self._at

    def fileno(self) -> int:
        return -1

    def close(self) -> None:
        """Nothing to close: paho closes its socket when the client goes."""


def _packets(topics: list[str], count: int, size: int, version: int) -> bytes:
    encoded_topics = [t.encode() for t in topics]
    return b"".join(encode_publish(encoded_topics[i % len(topics)], payload_for(i, size), 0, False, version)[0]
                    for i in range(count))


def _read_all(client: mqtt.Client, done: Callable[[], bool]) -> None:
    while not done():
        client.loop_read(100)


def _paho_parse(data: bytes, count: int, version: int) -> float:
    counted = [0]
    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, protocol=version)
    client.on_message = lambda c, u, m: counted.__setitem__(0, counted[0] + 1)
    client._sock = _MemorySocket(data)  # pyright: ignore[reportAttributeAccessIssue]
    started = time.perf_counter()
    _read_all(client, lambda: counted[0] >= count)
    return time.perf_counter() - started


def _eventscope_parse(data: bytes, count: int, version: int) -> float:
    buffer = IngestBuffer(max_count=count + 1, max_bytes=2**40)
    session = MqttSession(ConnectionProfile(name="stages", host="127.0.0.1", mqtt_version=version), buffer=buffer)
    client = session._client
    client._sock = BufferedSocket(_MemorySocket(data))  # pyright: ignore[reportAttributeAccessIssue]
    started = time.perf_counter()
    _read_all(client, lambda: len(buffer) >= count)
    elapsed = time.perf_counter() - started
    assert buffer.stats().dropped == 0
    return elapsed


def _records(topics: list[str], count: int, size: int) -> list[MessageRecord]:
    now, mono = time.time(), time.monotonic()
    return [MessageRecord(topics[i % len(topics)], payload_for(i, size), 0, False, now, mono, broker_id="stages")
            for i in range(count)]


def _batches(records: list[MessageRecord]) -> list[list[MessageRecord]]:
    return [records[i:i + TICK_BATCH] for i in range(0, len(records), TICK_BATCH)]


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _transfer(batches: list[list[MessageRecord]]) -> float:
    def run() -> None:
        for batch in batches:
            wire = pickle.dumps(("records", "stages", [pack(r) for r in batch]), pickle.HIGHEST_PROTOCOL)
            _, broker_id, items = pickle.loads(wire)
            [unpack(broker_id, item) for item in items]
    return _timed(run)


def _tree(batches: list[list[MessageRecord]]) -> float:
    forest = TopicForest()
    return _timed(lambda: [forest.apply(batch) for batch in batches])


def _stream(batches: list[list[MessageRecord]]) -> float:
    stream = Stream(StreamFilter("#"))
    return _timed(lambda: [stream.apply(batch) for batch in batches])


def _audit(batches: list[list[MessageRecord]]) -> float:
    with tempfile.TemporaryDirectory() as folder:
        store = AuditStore(Path(folder) / "stages.sqlite3")
        try:
            return _timed(lambda: [store.write_batch(batch, "stages") for batch in batches])
        finally:
            store.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=60)
    parser.add_argument("--topics", type=int, default=2_000)
    args = parser.parse_args(argv)
    count = args.messages
    topics = telemetry_topics(args.topics)
    rows: list[tuple[str, str, float]] = []
    for version, name in ((MQTT_V5, "MQTT 5"), (MQTT_V311, "MQTT 3.1.1")):
        data = _packets(topics, count, args.size, version)
        rows.append((f"1. parse: paho's read path, counting ({name})", "connection", _paho_parse(data, count, version)))
        rows.append((f"2. parse + record: Eventscope's read path ({name})", "connection",
                     _eventscope_parse(data, count, version)))
    batches = _batches(_records(topics, count, args.size))
    rows.append(("3. transfer: pack, pickle, unpickle, unpack", "both", _transfer(batches)))
    rows.append(("4. tree apply", "window", _tree(batches)))
    rows.append(("5. stream apply ('#')", "window", _stream(batches)))
    rows.append(("6. audit: SQLite write_batch", "connection", _audit(batches)))
    print(f"\nStages, each alone on one thread: {count:,} messages, {args.size} B payloads, {len(topics):,} topics, "
          f"batches of {TICK_BATCH:,}\n")
    print(f"{'stage':<56} {'process':<11} {'µs/msg':>7} {'msg/s alone':>12}")
    for stage, process, seconds in rows:
        print(f"{stage:<56} {process:<11} {seconds / count * 1e6:7.2f} {count / seconds:12,.0f}")


if __name__ == "__main__":
    main()
