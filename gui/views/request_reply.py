"""The outcome of the last request: a status line, the reply's details (RTT, size, route) and its payload."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from eventscope.core.payload_text import decode_utf8, preview
from eventscope.core.requests.tracker import Reply
from eventscope.gui.views.elided_label import ElidedLabel
from eventscope.gui.views.request_common import plain_label


def format_payload(payload: bytes) -> str:
    """Reply payload for display: pretty JSON when it is JSON, else the text, else a hex preview."""
    text = decode_utf8(payload)
    if text is None:
        return preview(payload)
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


class RequestReply:
    """The reply widgets. Not a widget of its own: they sit in the composer's column, right under the
    send row, so the reply shares the composer's space (and its stretch) as it always has."""

    def __init__(self) -> None:
        self.status_label = plain_label("requestStatus")
        self.reply_view = QPlainTextEdit(objectName="replyPayload", readOnly=True)
        self.reply_view.setPlaceholderText("The reply appears here")
        self.reply_view.setMinimumHeight(34)
        # One line, elided: the whole text is in its tooltip.
        self.reply_details = ElidedLabel(objectName="replyDetails", mode=Qt.TextElideMode.ElideRight)
        self.reply_details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

    def rows(self) -> tuple[tuple[QWidget, int], ...]:
        """The widgets top to bottom, with their stretch: the payload takes the room."""
        return (self.status_label, 0), (self.reply_details, 0), (self.reply_view, 3)

    def set_status(self, text: str) -> None:
        self.status_label.setText(text)

    def clear(self, why: str) -> None:
        """A reply on screen always belongs to the last request: clear it when a new one starts or fails."""
        self.reply_view.clear()
        self.reply_details.setText(why)

    def clear_details(self) -> None:
        self.reply_details.clear()

    def show(self, reply: Reply) -> None:
        self.reply_view.setPlainText(format_payload(reply.payload))
        correlation = reply.correlation_id or "none (uncorrelated: MQTT 3.1.1)"
        route = f" · left on {reply.sent_on}, came back on {reply.received_on}" if reply.sent_on else ""
        # The status line above says the RTT and the route; these are the rest, said once.
        self.reply_details.setText(f"{len(reply.payload)} B · reply topic {reply.reply_topic} · correlation {correlation}")
        self.status_label.setText(f"Reply received in {reply.rtt * 1e3:.2f} ms"
                                  + ("" if reply.correlated else " (uncorrelated)") + route)
