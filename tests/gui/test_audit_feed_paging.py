"""Paging deep into a large audit feed holds a bounded number of rows: past the cap the newest loaded rows go,
and scrolling back to them pages them in again, in either order, with the user's rows kept in place."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

import eventscope.gui.models.audit_table_model as audit_table_model
from eventscope.core.audit.store import AuditStore
from eventscope.core.profile import ConnectionProfile
from eventscope.core.records import MessageRecord
from eventscope.gui.models.audit_table_model import PAGE_SIZE, PAYLOAD_COLUMN
from eventscope.gui.views.audit_feed_view import AuditFeedView
from tests.conftest import publish_raw
from tests.gui.conftest import connect_and_wait, run_until

ROWS = 2_000
CAP = 3 * PAGE_SIZE


@pytest.mark.parametrize("newest_last", [False, True], ids=["newest at the top", "newest at the bottom"])
def test_paging_to_the_oldest_row_holds_at_most_the_cap_and_scrolling_back_brings_the_newest_again(
        context, qtbot, qtmodeltester, monkeypatch, tmp_path, newest_last):
    monkeypatch.setattr(audit_table_model, "MAX_LOADED_ROWS", CAP)
    db = tmp_path / "big.sqlite3"
    store = AuditStore(db, max_age_seconds=0)
    store.write_batch([MessageRecord("r/hello/request", f"n{i}".encode(), received=1e9 + i) for i in range(ROWS)])
    store.close()
    view = AuditFeedView(context, db_path=db)
    qtbot.addWidget(view)
    view.resize(900, 400)
    view.show()
    model, table = view.model, view.table
    most_loaded = [0]
    model.rowsInserted.connect(lambda *_: most_loaded.__setitem__(0, max(most_loaded[0], model.rowCount())))
    try:
        qtbot.waitUntil(lambda: model.rowCount() > 0 and not model.busy, timeout=5000)
        if newest_last:
            qtbot.mouseClick(view.order_button, Qt.LeftButton)
            qtbot.waitUntil(lambda: model.newest_last and not model.busy, timeout=5000)

        def payload_at_end(oldest: bool) -> str:
            row = 0 if oldest == newest_last else model.rowCount() - 1
            return model.index(row, PAYLOAD_COLUMN).data()

        def scroll_to_oldest() -> bool:
            if not model.busy:
                table.scrollToTop() if newest_last else table.scrollToBottom()
            return payload_at_end(oldest=True) == "n0"

        qtbot.waitUntil(scroll_to_oldest, timeout=20000)  # ten pages, each asked for as the user scrolls on
        assert most_loaded[0] <= CAP + PAGE_SIZE and model.rowCount() <= CAP  # the cap, a page at most past it
        assert model.feed.newer_dropped and not view.following()  # the newest rows went: not following them
        assert payload_at_end(oldest=False) != f"n{ROWS - 1}"

        # Back at the newest loaded row, a page of the newer rows comes in beside it; the user's rows stay put.
        def top_row() -> str:  # scrolling counts rows: the value is the first row the view is scrolled to
            return model.index(table.verticalScrollBar().value(), PAYLOAD_COLUMN).data()

        table.scrollToBottom() if newest_last else table.scrollToTop()
        newest_loaded, looked_at = payload_at_end(oldest=False), top_row()
        qtbot.waitUntil(lambda: payload_at_end(oldest=False) != newest_loaded and not model.busy, timeout=5000)
        assert top_row() == looked_at

        def scroll_to_newest() -> bool:
            if not model.busy:
                table.scrollToBottom() if newest_last else table.scrollToTop()
            return not model.feed.newer_dropped and payload_at_end(oldest=False) == f"n{ROWS - 1}"

        qtbot.waitUntil(scroll_to_newest, timeout=20000)
        assert model.rowCount() <= CAP
        qtbot.waitUntil(view.following, timeout=5000)  # at the newest end again: new rows will be followed
        ids = [model.row(r).id for r in range(model.rowCount())]
        assert ids == sorted(ids, reverse=not newest_last)  # no gap and no row twice: one run of ids
        assert ids[0] - ids[-1] == (len(ids) - 1) * (-1 if newest_last else 1)
        qtmodeltester.check(model)
    finally:
        view.shutdown()


def test_rows_arriving_while_the_user_reads_far_from_the_newest_stay_within_the_cap(
        context, mosquitto, qloop, qtbot, monkeypatch):
    monkeypatch.setattr(audit_table_model, "MAX_LOADED_ROWS", 100)
    connect_and_wait(context, ConnectionProfile(name="test", host="127.0.0.1", port=mosquitto.port))
    context.bridge.start()
    view = AuditFeedView(context)
    qtbot.addWidget(view)
    view.resize(900, 300)
    view.show()
    model, table = view.model, view.table
    try:
        run_until(qloop, lambda: view.recorder is not None, message="recording")
        assert view.recorder.wait_ready(10)
        publish_raw(mosquitto.port, [("us-east/hello/request", f"early {i}".encode()) for i in range(60)])
        run_until(qloop, lambda: model.rowCount() == 60, message="sixty rows")
        table.scrollToBottom()  # reading the oldest: not following
        run_until(qloop, lambda: not view.following(), message="away from the newest")
        looked_at = model.index(table.verticalScrollBar().value(), PAYLOAD_COLUMN).data()
        publish_raw(mosquitto.port, [("us-east/hello/request", f"late {i}".encode()) for i in range(90)])
        run_until(qloop, lambda: model.feed.newest_seen >= 150 and not model.busy, message="the late rows committed")
        assert model.rowCount() <= 100 and model.feed.newer_dropped  # the newest went, not what the user reads
        assert model.index(table.verticalScrollBar().value(), PAYLOAD_COLUMN).data() == looked_at  # rows stayed put

        def back_at_the_newest() -> bool:
            if not model.busy:
                table.scrollToTop()
            return not model.feed.newer_dropped and model.index(0, PAYLOAD_COLUMN).data() == "late 89"

        run_until(qloop, back_at_the_newest, message="the newest rows paged back in")
        ids = [model.row(r).id for r in range(model.rowCount())]
        assert ids == list(range(ids[0], ids[0] - len(ids), -1))  # one run of ids: nothing missing between
    finally:
        view.shutdown()
