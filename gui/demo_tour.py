"""A first look for newcomers on the embedded demo: pick a busy topic and send one request."""

from __future__ import annotations

from PySide6.QtCore import QTimer

from eventscope.gui.main_window import MainWindow

TOUR_TOPIC = "us-east/orders/node-1/metrics"
TOUR_PAYLOAD = '{"greeting": "hello", "from": "eventscope"}'


def start_demo_tour(window: MainWindow, delay_ms: int = 1500) -> None:
    """Once traffic flows, select a telemetry topic (details, history, plot) and send a request."""

    tries = [20]  # about ten seconds; then the tour lets it be

    def select_topic() -> None:
        if not window.topic_tree.select_topic(TOUR_TOPIC) and tries[0] > 0:
            tries[0] -= 1
            QTimer.singleShot(500, window, select_topic)  # not seen yet: try again shortly

    def send_request() -> None:
        panel = window.request_panel
        if not panel.payload_edit.toPlainText().strip():
            panel.payload_edit.setPlainText(TOUR_PAYLOAD)
        if panel.send_button.isEnabled():
            panel.send_button.click()

    # Timers tied to the window: closed before they fire, they never run.
    QTimer.singleShot(delay_ms, window, select_topic)
    QTimer.singleShot(delay_ms + 500, window, send_request)
