"""A topic's history kept in one buffer: the same messages come back, and a reader on another thread never
sees a torn copy while the tick appends and drops."""

from __future__ import annotations

import threading

from eventscope.core.models.message_history import MessageHistory, TopicMessage, TruncatedMessage
from eventscope.core.records import NO_PROPERTIES, MessageProperties


def _fields(message: TopicMessage) -> tuple:
    return (message.payload, message.received, message.qos, message.retain, message.properties, message.truncated,
            message.original_size)


def test_messages_come_back_as_they_were_kept_oldest_first():
    history = MessageHistory()
    request = MessageProperties(response_topic="eu/hello/response", correlation_data=b"id")
    kept = [
        TopicMessage(b"one", 1.5, 0, False),
        TopicMessage(b"two", 2.5, 1, True, request),
        TruncatedMessage(b"thr", 3.5, 2, False, request, 3_000_000),
        TruncatedMessage(b"fou", 4.5, 1, True, MessageProperties(), 9_000),
        TopicMessage(b"", 5.5, 0, True),
    ]
    for message in kept:
        history.append_message(message)
    assert len(history) == 5 and history
    assert [_fields(m) for m in history] == [_fields(m) for m in kept]
    assert _fields(history.newest()) == _fields(kept[-1]) and history.newest_payload() == b""
    assert history.payload_bytes == 12
    assert history.pop_oldest() == 3
    assert history.pop_oldest() == 3  # its properties go with it
    history.append_message(TopicMessage(b"six", 6.5, 0, False))
    assert [_fields(m) for m in history.snapshot()] == [_fields(m) for m in (*kept[2:], TopicMessage(b"six", 6.5, 0, False))]
    assert _fields(history.newest()) == _fields(TopicMessage(b"six", 6.5, 0, False))
    assert history.newest_payload() == b"six"
    while history:
        history.pop_oldest()
    assert history.snapshot() == [] and not history._extras
    assert history.newest() is None and history.payload_bytes == 0


def test_a_reader_on_another_thread_only_ever_sees_a_run_of_whole_messages():
    history = MessageHistory()
    done = threading.Event()
    written = [0]

    def tick() -> None:  # the tick thread: a ring of 50, each message's time equal to its number
        number = 0
        while not done.is_set() and number < 50_000_000:
            properties = MessageProperties(content_type=str(number)) if number % 5 == 0 else NO_PROPERTIES
            history.append(str(number).encode(), float(number), number % 2, number % 3 == 0, properties)
            if len(history) > 50:
                history.pop_oldest()
            number += 1
        written[0] = number

    writer = threading.Thread(target=tick)
    writer.start()
    seen = 0
    try:
        while writer.is_alive() and seen < 2_000:
            messages = history.snapshot()
            if not messages:
                continue
            numbers = [int(m.payload) for m in messages]
            assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
            for number, message in zip(numbers, messages):
                assert message.received == float(number)
                assert (message.qos, message.retain) == (number % 2, number % 3 == 0)
                assert message.properties.content_type == (str(number) if number % 5 == 0 else None)
            newest_payload = history.newest_payload()
            assert not newest_payload or newest_payload.isdigit()  # never a header's bytes or a cut payload
            newest = history.newest()
            if newest is not None:
                number = int(newest.payload)
                assert (newest.received, newest.qos, newest.retain) == (float(number), number % 2, number % 3 == 0)
                assert newest.properties.content_type == (str(number) if number % 5 == 0 else None)
            seen += 1
    finally:
        done.set()
        writer.join(30)
    assert seen >= 100 and written[0] > 1_000
