"""The audit feed reads as pairs: time of day, a correlation column, one tint per request and reply,
and a reply to Eventscope's own request carries the request's region."""

from __future__ import annotations

import re

from PySide6.QtCore import Qt

from eventscope.core.mqtt.session import MqttSession
from eventscope.core.profile import ConnectionProfile
from eventscope.core.requests.replier import Replier, demo_reply_handler
from eventscope.gui.models.audit_table_model import (
    CORRELATION_COLUMN,
    DUP_COLUMN,
    KIND_COLUMN,
    PAIR_COLUMN,
    PATH_COLUMN,
    REGION_COLUMN,
    RTT_COLUMN,
    TIME_COLUMN,
    TOPIC_COLUMN,
)
from eventscope.gui.views.audit_feed_view import AuditFeedView
from tests.gui.conftest import run_until


def test_a_request_and_its_reply_read_as_a_pair(connected_context, mosquitto, qloop, qtbot):
    replier_session = MqttSession(ConnectionProfile(name="replier", host="127.0.0.1", port=mosquitto.port),
                                  buffer_messages=False)
    replier_session.start()
    assert replier_session.wait_connected(10)
    replier = Replier(replier_session, topic_filter="+/hello/request", handler=demo_reply_handler)
    replier.start().result(10)
    view = AuditFeedView(connected_context)
    qtbot.addWidget(view)
    view.show()
    try:
        run_until(qloop, lambda: view.recorder is not None, message="recording")  # the child's answer
        assert view.recorder.wait_ready(10)
        reply = qloop.run_until_complete(connected_context.tracker.request("ap-south/hello/request", b"ping",
                                                                           timeout=10))
        assert reply.correlated
        model = view.model

        def rows() -> dict[str, int]:
            return {model.index(r, KIND_COLUMN).data(): r for r in range(model.rowCount())}

        run_until(qloop, lambda: {"request", "reply"} <= set(rows()), message="the pair in the feed")
        request, answer = rows()["request"], rows()["reply"]
        assert model.index(answer, TOPIC_COLUMN).data().startswith("eventscope/")  # our own reply topic …
        assert model.index(answer, REGION_COLUMN).data() == "ap-south"  # … shown with the request's region
        correlation = model.index(request, CORRELATION_COLUMN).data()
        assert correlation and correlation == model.index(answer, CORRELATION_COLUMN).data()
        tint = model.index(request, 0).data(Qt.BackgroundRole)
        assert tint is not None and tint == model.index(answer, 0).data(Qt.BackgroundRole)
        assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", model.index(request, TIME_COLUMN).data())
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}",
                            model.index(request, TIME_COLUMN).data(Qt.ToolTipRole))

        # An explicit link and the RTT on both halves; the partner one key away.
        run_until(qloop, lambda: model.index(rows()["reply"], RTT_COLUMN).data(), message="the reply's RTT")
        request, answer = rows()["request"], rows()["reply"]
        request_row, reply_row = model.row(request), model.row(answer)
        assert model.index(request, PAIR_COLUMN).data() == f"→ reply #{reply_row.id}"
        assert model.index(answer, PAIR_COLUMN).data() == f"← request #{request_row.id}"
        assert model.index(answer, RTT_COLUMN).data() == model.index(request, RTT_COLUMN).data() != ""
        view.table.selectRow(request)
        view.table.setCurrentIndex(model.index(request, 0))
        assert view.go_to_partner() and view.table.currentIndex().row() == answer
        assert view.go_to_partner() and view.table.currentIndex().row() == request
        # One broker: Path and Dup say nothing and are hidden (the header menu shows them again).
        assert view.table.isColumnHidden(PATH_COLUMN) and view.table.isColumnHidden(DUP_COLUMN)
        view.columns.set_shown("Path", True)
        assert not view.table.isColumnHidden(PATH_COLUMN) and view.table.isColumnHidden(DUP_COLUMN)

        # A selected row stays in view while new rows arrive above it (following pauses).
        view.resize(900, 160)  # a few rows high: new rows would push it away
        view.table.selectRow(request)
        selected_id = request_row.id
        for n in range(4):
            qloop.run_until_complete(connected_context.tracker.request("ap-south/hello/request", f"p{n}".encode(),
                                                                       timeout=10))
        run_until(qloop, lambda: model.rowCount() >= 10, message="four more pairs")
        shown = view.table.selectionModel().selectedRows()
        assert [model.row(i.row()).id for i in shown] == [selected_id] and shown[0].row() > request
        bar = view.table.verticalScrollBar()
        viewport = view.table.viewport().rect()

        def in_view() -> bool:  # scrolled with the rows that came in above it, so still on screen
            return bar.value() > 0 and viewport.contains(view.table.visualRect(model.index(shown[0].row(), 0)))

        run_until(qloop, in_view, message="the selected row still in view")

        # Searching one kind hides the partners: no tints then.
        view.kind_combo.setCurrentText("reply")
        view.apply_search()
        run_until(qloop, lambda: model.rowCount() > 0 and all(model.index(r, KIND_COLUMN).data() == "reply"
                                                               for r in range(model.rowCount())), message="replies")
        assert model.index(0, 0).data(Qt.BackgroundRole) is None
    finally:
        view.shutdown()
        replier.stop()
        replier_session.stop()
