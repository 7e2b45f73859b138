"""The connection child process: every broker's session, request tracker and audit writer.

It answers the window's commands by call id and sends record batches, status changes, committed
audit results and tracker statistics back over one duplex pipe. If the window dies (even kill -9),
the pipe closes, and the child stores and acknowledges what it already received, then exits.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from eventscope.core.connections.local import BrokerConnection
from eventscope.core.connections.priority import lower_connection_priority
from eventscope.core.connections.wire import SEND_INTERVAL, STATS_INTERVAL, pack
from eventscope.core.mqtt.session import SessionError
from eventscope.core.requests.tracker import ReplyRouter, RequestError


def child_main(pipe) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s (connections): %(message)s")
    lower_connection_priority()  # before its threads start: they inherit it
    ChildHost(pipe).run()


class ChildHost:
    """Runs the broker connections and answers the parent's commands."""

    def __init__(self, pipe) -> None:
        self.pipe = pipe
        self.send_lock = threading.Lock()
        self.connections: dict[str, BrokerConnection] = {}
        self.router = ReplyRouter()
        self.passwords: dict[str, str | None] = {}
        self.loop = asyncio.new_event_loop()
        self.loop_thread = threading.Thread(target=self.loop.run_forever, name="requests", daemon=True)
        self.loop_thread.start()
        self.stopping = threading.Event()
        self.sender = threading.Thread(target=self._send_loop, name="connections-sender", daemon=True)
        self.sender.start()

    def send(self, message: tuple) -> None:
        try:
            with self.send_lock:
                self.pipe.send(message)
        except (OSError, ValueError):  # the parent is gone; shutting down follows
            pass

    def reply(self, call_id: int, ok: bool, value) -> None:
        self.send(("result", call_id, ok, value))

    def run(self) -> None:
        while True:
            try:
                message = self.pipe.recv()
            except (EOFError, OSError):  # the window is gone: store and ack what arrived, then leave
                self.shutdown()
                return
            command, call_id, *args = message
            try:
                if command == "shutdown":
                    self.shutdown()
                    self.reply(call_id, True, None)
                    return
                getattr(self, f"do_{command}")(call_id, *args)
            except Exception as exc:
                self.reply(call_id, False, exc)

    # ----- commands -----
    def do_open(self, call_id, broker_id, profile, password, subscriptions, audit, region_level) -> None:
        connection = BrokerConnection.open(broker_id, profile, password, subscriptions, audit, region_level,
                                           router=self.router)
        self.connections[broker_id] = connection
        self.passwords[broker_id] = password
        self.reply(call_id, True, self._audit_state(connection))

    @staticmethod
    def _audit_state(connection: BrokerConnection) -> tuple:
        return connection.audit_path, connection.audit_notice, connection.writer is not None

    def do_close(self, call_id, broker_id) -> None:
        connection = self.connections.pop(broker_id, None)
        if connection is not None:
            self._flush(broker_id, connection)
            results = connection.close()
            self._flush(broker_id, connection, results)
        self.reply(call_id, True, None)

    def do_set_audit(self, call_id, broker_id, settings, password, region_level) -> None:
        connection = self.connections[broker_id]
        self._flush(broker_id, connection, connection.stop_audit())
        if settings is not None:
            connection.start_audit(settings, password if password is not None else self.passwords.get(broker_id),
                                   region_level)
        self.reply(call_id, True, self._audit_state(connection))

    def do_audit_ready(self, call_id, broker_id, timeout) -> None:
        recorder = self.connections[broker_id].recorder
        if recorder is None:
            self.reply(call_id, True, False)
            return
        threading.Thread(target=lambda: self.reply(call_id, True, recorder.wait_ready(timeout)), daemon=True).start()

    def do_subscribe(self, call_id, broker_id, topic_filter, qos) -> None:
        self._forward(call_id, self.connections[broker_id].session.subscribe(topic_filter, qos))

    def do_unsubscribe(self, call_id, broker_id, topic_filter) -> None:
        self._forward(call_id, self.connections[broker_id].session.unsubscribe(topic_filter))

    def do_publish(self, call_id, broker_id, topic, payload, qos, retain, properties) -> None:
        self._forward(call_id, self.connections[broker_id].session.publish(topic, payload, qos, retain, properties))

    def do_publish_many(self, call_id, broker_id, messages) -> None:
        self._forward(call_id, self.connections[broker_id].session.publish_many(messages))

    def do_request(self, call_id, broker_id, topic, payload, options) -> None:
        tracker = self.connections[broker_id].tracker
        self._forward(call_id, asyncio.run_coroutine_threadsafe(tracker.request(topic, payload, **options), self.loop))

    def _forward(self, call_id: int, future) -> None:
        def done(f) -> None:
            error = f.exception()
            if error is not None and not isinstance(error, (SessionError, RequestError, ValueError)):
                error = RequestError(str(error) or type(error).__name__)  # keep it picklable and readable
            self.reply(call_id, error is None, f.result() if error is None else error)

        future.add_done_callback(done)

    # ----- outgoing -----
    def _send_loop(self) -> None:
        last_state: dict[str, tuple] = {}
        last_reading: dict[str, tuple] = {}
        last_audit_reading: dict[str, tuple] = {}
        next_stats = 0.0
        while not self.stopping.wait(SEND_INTERVAL):
            now = time.monotonic()
            for broker_id, connection in list(self.connections.items()):
                try:
                    self._flush(broker_id, connection)
                except Exception:  # one broker's trouble must not stop the others' records
                    logging.getLogger(__name__).exception("cannot send %s's records", broker_id)
                    continue
                state = (connection.session.status, connection.buffer.stats().dropped)
                if last_state.get(broker_id) != state:
                    last_state[broker_id] = state
                    self.send(("status", broker_id, state[0], connection.session.max_packet_size, state[1]))
                if now >= next_stats:
                    self.send(("tracker", broker_id, connection.tracker.stats()))
                    reading = connection.session.socket_reading()
                    if last_reading.get(broker_id) != reading:
                        last_reading[broker_id] = reading
                        self.send(("reading", broker_id, tuple(reading)))
                    recorder = connection.recorder
                    audit_reading = tuple(recorder.reading()) if recorder is not None else ()
                    if last_audit_reading.get(broker_id, ()) != audit_reading:
                        last_audit_reading[broker_id] = audit_reading
                        self.send(("audit_reading", broker_id, audit_reading))
            if now >= next_stats:
                next_stats = now + STATS_INTERVAL

    def _flush(self, broker_id: str, connection: BrokerConnection, final_results=None) -> None:
        records = connection.buffer.drain()
        if records:
            self.send(("records", broker_id, [pack(r) for r in records]))
        results = connection.take_audit_results() if final_results is None else final_results
        if results:
            self.send(("audit", broker_id, results))

    def shutdown(self) -> None:
        for broker_id, connection in list(self.connections.items()):
            self._flush(broker_id, connection, connection.close())
        self.connections.clear()
        self.stopping.set()
        self.loop.call_soon_threadsafe(self.loop.stop)
