"""The only hand-off from the network threads to the GUI thread.

One ``QTimer`` (about 30 Hz) drains every attached session's ingest buffer and emits
one ``batchFlushed`` per tick with everything that arrived. There is never a Qt signal
per MQTT message, and no widget is touched from a paho thread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal

from core.records import MessageRecord
from core.session import MqttSession, SessionStatus

FLUSH_INTERVAL_MS = 33


@dataclass(frozen=True, slots=True)
class FlushStats:
    """What the status bar shows, refreshed about once a second."""

    messages_per_second: float
    received: int
    buffered: int
    dropped: int


class FlushBridge(QObject):
    """Drains attached sessions on a GUI-thread timer.

    Signals:
        batchFlushed(list[MessageRecord]): one per tick, only when something arrived.
        sessionStatusChanged(MqttSession, SessionStatus): a session's state changed.
        statsChanged(FlushStats): about once a second.
    """

    batchFlushed = Signal(object)
    sessionStatusChanged = Signal(object, object)
    statsChanged = Signal(object)

    def __init__(self, interval_ms: int = FLUSH_INTERVAL_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._sessions: list[MqttSession] = []
        self._last_status: dict[int, SessionStatus] = {}
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.flush)
        self._rate_window_start = time.monotonic()
        self._rate_window_count = 0
        self._rate = 0.0

    @property
    def sessions(self) -> tuple[MqttSession, ...]:
        return tuple(self._sessions)

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def attach(self, session: MqttSession) -> None:
        if session not in self._sessions:
            self._sessions.append(session)

    def detach(self, session: MqttSession) -> None:
        if session in self._sessions:
            self.flush()  # hand over what already arrived before forgetting the session
            self._sessions.remove(session)
            self._last_status.pop(id(session), None)

    def flush(self) -> list[MessageRecord]:
        """Drain everything waiting and emit it as one batch. Public so tests can tick by hand."""
        batch: list[MessageRecord] = []
        for session in self._sessions:
            batch.extend(session.buffer.drain())
            status = session.status
            if self._last_status.get(id(session)) is not status:
                self._last_status[id(session)] = status
                self.sessionStatusChanged.emit(session, status)
        if len(self._sessions) > 1:
            batch.sort(key=lambda record: record.received_mono)
        if batch:
            self.batchFlushed.emit(batch)
        self._update_stats(len(batch))
        return batch

    def _update_stats(self, count: int) -> None:
        self._rate_window_count += count
        now = time.monotonic()
        elapsed = now - self._rate_window_start
        if elapsed < 1.0:
            return
        self._rate = self._rate_window_count / elapsed
        self._rate_window_start, self._rate_window_count = now, 0
        received = buffered = dropped = 0
        for session in self._sessions:
            stats = session.buffer.stats()
            received += stats.received
            buffered += stats.buffered
            dropped += stats.dropped
        self.statsChanged.emit(FlushStats(self._rate, received, buffered, dropped))
