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
    KIND_COLUMN,
    REGION_COLUMN,
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
    finally:
        view.shutdown()
        replier.stop()
        replier_session.stop()
