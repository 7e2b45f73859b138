"""The request panel's Burst tab: send the composed request N times with C in flight, see the RTT spread."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QPushButton, QSpinBox, QVBoxLayout, QWidget

from eventscope.core.requests.rtt_stats import RttSummary
from eventscope.gui.views.request_common import plain_label


class RequestBurstTab(QWidget):
    """N and C, the button, and the result line. The panel sends: it knows the request and the broker."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.burst_count = QSpinBox(objectName="burstCount", minimum=1, maximum=100000, value=100, prefix="N ")
        self.burst_concurrency = QSpinBox(objectName="burstConcurrency", minimum=1, maximum=1000, value=10, prefix="C ")
        self.burst_button = QPushButton("Send N", objectName="sendBurstButton")
        self.burst_button.setToolTip("Send N requests with C in flight and show the RTT spread")
        self.burst_result = plain_label("burstResult")

        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(self.burst_count)
        row.addWidget(self.burst_concurrency)
        row.addWidget(self.burst_button)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addWidget(self.burst_result)
        layout.addStretch(1)

    def sizes(self) -> tuple[int, int]:
        """How many requests, and how many at a time."""
        return self.burst_count.value(), self.burst_concurrency.value()

    def show_started(self, count: int, concurrency: int) -> None:
        self.burst_result.setText(f"Sending {count} requests, {concurrency} at a time…")

    def show_summary(self, summary: RttSummary) -> None:
        self.burst_result.setText(summary.text())

    def show_failure(self, exc: BaseException) -> None:
        self.burst_result.setText(f"Burst not completed: {exc}")
