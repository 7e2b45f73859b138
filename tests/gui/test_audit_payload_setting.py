"""The window's *Keep payloads up to* setting (the audit Store… dialog): it fits 1024×700, persists, and
reaches the recorder in the connection process; the feed holds previews and opens a row whole."""

from __future__ import annotations

import json

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from eventscope.core.audit.store import PAYLOAD_PREVIEW_BYTES, AuditQuery, AuditStore
from eventscope.core.profile import ConnectionProfile
from eventscope.gui.context import AppContext
from eventscope.gui.models.audit_table_model import SIZE_COLUMN
from eventscope.gui.views.audit_feed_view import AuditFeedView
from eventscope.gui.views.audit_store_dialog import MAX_PAYLOAD_KEY, saved_max_payload
from tests.conftest import publish_raw
from tests.gui.conftest import run_until
from tests.gui.test_layout_walk import walk_tabs

MIB = 1024 * 1024
REQUEST = "us-east/hello/request"


def big_request(size: int, tail: bytes = b"") -> bytes:
    """A JSON request of ``size`` bytes whose last bytes before the closing brace are ``tail``."""
    head = b'{"order": "ord-4711", "blob": "'
    end = b'", "tag": "' + tail + b'"}'
    return head + b"x" * (size - len(head) - len(end)) + end


def test_the_store_dialog_fits_1024x700(window, qtbot):
    window.resize(1024, 700)
    QApplication.processEvents()
    dialog = window.audit_feed.open_store_dialog()
    for team in (False, True):  # the team database's fields shown enabled, or not
        (dialog.team_radio if team else dialog.local_radio).click()
        QApplication.processEvents()
        assert dialog.max_payload_spin.isVisibleTo(dialog)
        assert dialog.width() <= 1024 and dialog.height() <= 700, (dialog.width(), dialog.height())
        assert walk_tabs(dialog, "audit store") == []
    dialog.reject()


def test_keep_payloads_up_to_persists_and_reaches_the_recorder(window, qloop, qtbot, mosquitto, settings):
    context = window.context
    view = window.audit_feed
    dialog = view.open_store_dialog()
    assert dialog.max_payload_spin.value() == 16  # MiB, until chosen
    dialog.max_payload_spin.setValue(1)
    dialog.accept()
    window.add_broker(ConnectionProfile(name="plant", host="127.0.0.1", port=mosquitto.port))
    run_until(qloop, lambda: view.recorder is not None, message="recording")  # in the connection process
    assert view.recorder.wait_ready(10)
    body = big_request(MIB + MIB // 2)
    publish_raw(mosquitto.port, [(REQUEST, body)], [{"ResponseTopic": "us-east/hello/response",
                                                     "CorrelationData": b"c1"}])
    run_until(qloop, lambda: view.model.rowCount() == 1, timeout=15, message="the request in the feed")

    row = view.model.row(0)  # the feed holds a preview of it, with what was kept
    assert row.payload == body[:PAYLOAD_PREVIEW_BYTES] and row.payload_is_preview
    assert row.truncated and row.size == len(body)
    assert view.model.index(0, SIZE_COLUMN).data() == f"{len(body)} (truncated)"
    reader = AuditStore.open_reader(view.path)
    try:
        stored = reader.rows_by_id([row.id])[row.id]
    finally:
        reader.close()
    assert stored.payload == body[:MIB] and stored.truncated and stored.size == len(body)  # cut at the 1 MiB chosen

    with qtbot.waitSignal(context.messageSelected, timeout=5000) as opened:  # opening the row reads it whole
        view.table.selectRow(0)
    assert opened.args[0].payload == body[:MIB]

    settings.sync()  # remembered: the next start records with it
    again = QSettings(settings.fileName(), QSettings.Format.IniFormat)
    assert int(again.value(MAX_PAYLOAD_KEY)) == 1 and saved_max_payload(again) == MIB
    next_start = AppContext(again)
    feed = AuditFeedView(next_start)
    try:
        assert next_start.registry.audit is not None and next_start.registry.audit.max_payload == MIB
        assert feed.open_store_dialog().max_payload_spin.value() == 1
    finally:
        feed.shutdown()
        feed.deleteLater()
        next_start.shutdown()


def test_a_live_payload_search_finds_text_past_the_preview(connected_context, qloop, qtbot):
    view = AuditFeedView(connected_context)
    qtbot.addWidget(view)
    try:
        run_until(qloop, lambda: view.recorder is not None and view.path is not None, message="recording, shown")
        assert view.recorder.wait_ready(10)
        view.text_edit.setText("needle-at-the-end")
        view.apply_search()
        run_until(qloop, lambda: not view.model.busy, message="the search's first page")
        with_needle, without = big_request(100_000, b"needle-at-the-end"), big_request(100_001, b"hay")
        publish_raw(connected_context.profile.port, [(REQUEST, without), (REQUEST, with_needle)],
                    [{"CorrelationData": b"a"}, {"CorrelationData": b"b"}])
        reader = AuditStore.open_reader(view.path)
        try:
            run_until(qloop, lambda: len(reader.page_before(AuditQuery(), None, 10)) == 2, timeout=15,
                      message="both requests stored")
        finally:
            reader.close()
        # The live rows hold previews without the text: the store decides, and only the match is shown.
        run_until(qloop, lambda: view.model.rowCount() >= 1, timeout=10, message="the matching request shown")
        done = view.reader.read(lambda store: None)  # the reader's queue is in order: every read before it is done
        run_until(qloop, done.done, message="the feed's reads")
        QApplication.processEvents()  # and their answers applied
        assert view.model.rowCount() == 1
        shown = view.model.row(0)
        assert shown.correlation == b"b" and shown.payload_is_preview and shown.size == len(with_needle)
        assert json.loads(with_needle)["tag"] == "needle-at-the-end"
    finally:
        view.shutdown()
