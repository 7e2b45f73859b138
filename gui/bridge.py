"""The only hand-off from the core to the GUI thread.

A ``QTimer`` (about 30 Hz) takes the workspace's latest ``ChangeSummary`` and emits it once.
The GUI thread never drains a buffer or applies a record: the workspace's tick thread has done
that already, so here there is only drawing. There is never a Qt signal per MQTT message, and no
widget is touched from any other thread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer, Signal

from eventscope.core.workspace.changes import BrokerSummary, ChangeSummary
from eventscope.core.workspace.workspace import Workspace

FRAME_MS = 33
# The least time left to other events (input, painting, timers) after a frame: a frame that took longer
# than FRAME_MS would otherwise be followed at once by the next, and the two stall the window as one.
MIN_GAP_MS = 10
STATS_INTERVAL = 1.0  # seconds between status-bar refreshes


@dataclass(frozen=True, slots=True)
class FlushStats:
    """What the status bar shows, refreshed about once a second."""

    messages_per_second: float
    received: int
    buffered: int
    dropped: int
    falling_behind: tuple[BrokerSummary, ...] = ()  # brokers that send faster than the window reads or the audit writes


class SummaryBridge(QObject):
    """Delivers workspace summaries on the GUI thread.

    Signals:
        summaryReady(ChangeSummary): at most one per frame, only when a tick happened.
        sessionStatusChanged(MqttSession, SessionStatus): a broker's state changed.
        statsChanged(FlushStats): about once a second.
    """

    summaryReady = Signal(object)
    sessionStatusChanged = Signal(object, object)
    statsChanged = Signal(object)

    def __init__(self, workspace: Workspace, interval_ms: int = FRAME_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self._last_status: dict[str, object] = {}
        self.interval_ms = interval_ms
        self._timer = QTimer(self, singleShot=True)  # restarted after each frame (see MIN_GAP_MS)
        self._timer.timeout.connect(self._frame)
        self._running = False
        self._last_stats = 0.0

    def start(self) -> None:
        """Start the workspace's tick thread and the frame timer."""
        self.workspace.start()
        self._running = True
        self._timer.start(self.interval_ms)

    def stop(self) -> None:
        self._running = False
        self._timer.stop()
        self.workspace.stop()

    def stop_frames(self) -> None:
        """No more summaries reach the window; the workspace's own close stops its tick thread."""
        self._running = False
        self._timer.stop()

    def _frame(self) -> None:
        started = time.perf_counter()
        self.poll()
        if self._running:
            took_ms = (time.perf_counter() - started) * 1000
            self._timer.start(max(MIN_GAP_MS, round(self.interval_ms - took_ms)))

    def poll(self) -> ChangeSummary | None:
        """Emit the latest summary, if there is one; the next tick waits until the views have applied it.
        Public so tests can drive frames by hand."""
        summary = self.workspace.take_summary(until_applied=True)
        if summary is not None:
            try:
                self.deliver(summary)
                # Paint what it changed now, while the tick still waits: painting calls into the item models
                # thousands of times, each call takes the interpreter lock, and a running tick would take
                # it back in between every time (up to the switch interval each).
                QCoreApplication.sendPostedEvents(None, QEvent.Type.UpdateRequest)
            finally:
                self.workspace.summary_applied()
        return summary

    def flush(self) -> ChangeSummary | None:
        """Tick now (on the worker when it runs, waiting for it) and deliver the result: for tests only."""
        summary = self.workspace.tick_now()
        if summary is not None:
            self.deliver(summary)
        return summary

    def deliver(self, summary: ChangeSummary) -> None:
        for broker in summary.brokers:
            if self._last_status.get(broker.broker_id) is not broker.status:
                self._last_status[broker.broker_id] = broker.status
                connection = self.workspace.broker(broker.broker_id)
                if connection is not None:
                    self.sessionStatusChanged.emit(connection.session, broker.status)
        self.summaryReady.emit(summary)
        now = time.monotonic()
        if now - self._last_stats >= STATS_INTERVAL:
            self._last_stats = now
            behind = tuple(b for b in summary.brokers if b.behind)
            self.statsChanged.emit(FlushStats(summary.messages_per_second, summary.received, summary.buffered,
                                              summary.dropped, behind))
