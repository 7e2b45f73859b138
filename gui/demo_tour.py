"""A first look for newcomers on the embedded demo: pick a busy topic and send one request."""

from __future__ import annotations

from PySide6.QtCore import QTimer

from eventscope.gui.main_window import MainWindow

TOUR_TOPIC = "us-east/orders/node-1/metrics"
TOUR_PAYLOAD = '{"greeting": "hello", "from": "eventscope"}'


def start_demo_tour(window: MainWindow, delay_ms: int = 1500) -> None:
    """Once traffic flows, select a telemetry topic (details, history, plot) and send a request."""

    def select_topic() -> None:
        if not window.topic_tree.select_topic(TOUR_TOPIC):
            QTimer.singleShot(500, select_topic)  # not seen yet: try again shortly

    def send_request() -> None:
        panel = window.request_panel
        if not panel.payload_edit.toPlainText().strip():
            panel.payload_edit.setPlainText(TOUR_PAYLOAD)
        if panel.send_button.isEnabled():
            panel.send_button.click()

    QTimer.singleShot(delay_ms, select_topic)
    QTimer.singleShot(delay_ms + 500, send_request)
