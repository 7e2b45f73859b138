"""Status bar: throughput, buffered, dropped, and connection state."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QStatusBar, QWidget

from eventscope.core.mqtt.session import SessionStatus
from eventscope.gui.bridge import FlushStats
from eventscope.gui.status_colours import status_style


class EventscopeStatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusBar")
        self.setAccessibleName("Status")
        self.rate_label = self._label("rateLabel", "0 msg/s")
        self.buffered_label = self._label("bufferedLabel", "buffered 0")
        self.dropped_label = self._label("droppedLabel", "dropped 0")
        self.brokers_label = self._label("brokersLabel", "no broker")
        self.state_label = self._label("stateLabel", "Idle")

    def _label(self, name: str, text: str) -> QLabel:
        if self.findChildren(QLabel, options=Qt.FindChildOption.FindDirectChildrenOnly):
            separator = QFrame(objectName=f"{name}Separator")  # the parts apart, not run together
            separator.setFrameShape(QFrame.Shape.VLine)
            separator.setFrameShadow(QFrame.Shadow.Sunken)
            self.addPermanentWidget(separator)
        label = QLabel(text, objectName=name)
        label.setTextFormat(Qt.TextFormat.PlainText)
        label.setContentsMargins(4, 0, 4, 0)
        self.addPermanentWidget(label)
        return label

    def show_stats(self, stats: FlushStats) -> None:
        self.rate_label.setText(f"{stats.messages_per_second:,.0f} msg/s")
        buffered = f"buffered {stats.buffered:,}"
        behind = stats.falling_behind
        if behind:  # the broker's row has the detail too; here it shows whichever tab is open
            buffered += "  ·  " + ", ".join(f"{b.broker_id} {backlog.text}" for b in behind for backlog in b.behind)
        self.buffered_label.setText(buffered)
        self.buffered_label.setStyleSheet(status_style("warn", bold=True) if behind else "")
        self.buffered_label.setToolTip("\n\n".join(f"{b.broker_id}: {backlog.detail}"
                                                    for b in behind for backlog in b.behind))
        self.dropped_label.setText(f"dropped {stats.dropped:,}")
        self.dropped_label.setStyleSheet(status_style("error", bold=True) if stats.dropped else "")

    def show_status(self, status: SessionStatus | None) -> None:
        self.state_label.setText(status.text if status else "Idle")

    def show_brokers(self, connected: int, total: int) -> None:
        """The total over every broker of the window, beside the current one's state."""
        text = "no broker" if total == 0 else f"{connected}/{total} broker{'s' if total != 1 else ''} connected"
        if text != self.brokers_label.text():
            self.brokers_label.setText(text)
            self.brokers_label.setStyleSheet(status_style("warn") if connected < total else "")
