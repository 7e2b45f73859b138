"""The audit feed's order toggle: newest at the bottom as streams show it, older pages loading at the top,
live rows following at the bottom, and the choice kept for the next start."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from eventscope.core.audit.store import AuditStore
from eventscope.core.profile import ConnectionProfile
from eventscope.core.records import MessageRecord
from eventscope.gui.models.audit_table_model import PAGE_SIZE, PAYLOAD_COLUMN
from eventscope.gui.views.audit_feed_view import AuditFeedView
from tests.conftest import publish_raw
from tests.gui.conftest import connect_and_wait, run_until


def test_newest_at_the_bottom_pages_older_rows_in_at_the_top(context, qtbot, qtmodeltester, tmp_path):
    db = tmp_path / "big.sqlite3"
    store = AuditStore(db, max_age_seconds=0)
    store.write_batch([MessageRecord("r/hello/request", f"n{i}".encode(), received=1e9 + i) for i in range(1000)])
    store.close()
    view = AuditFeedView(context, db_path=db)
    qtbot.addWidget(view)
    view.resize(900, 400)
    view.show()
    try:
        model = view.model
        qtbot.waitUntil(lambda: model.rowCount() > 0 and not model.busy, timeout=5000)  # the first page
        qtbot.mouseClick(view.order_button, Qt.LeftButton)
        assert model.newest_last and view.order_button.text().startswith("Newest at the bottom")
        view.table.doItemsLayout()  # lay out now: a view that would page history in asks here (it must not)
        QApplication.processEvents()
        rows = model.rowCount()
        assert rows == PAGE_SIZE  # Qt did not page history in at the live end …
        assert view.following()  # … so the newest row is in view, and new rows will be followed
        assert model.index(rows - 1, PAYLOAD_COLUMN).data() == "n999"  # newest last
        assert model.index(0, PAYLOAD_COLUMN).data() == f"n{1000 - rows}"
        view.table.scrollToTop()  # older rows come in above, and the view keeps its place
        qtbot.waitUntil(lambda: model.rowCount() > rows, timeout=3000)
        assert model.rowCount() == 2 * PAGE_SIZE
        qtbot.waitUntil(lambda: view.table.rowAt(0) > 0, timeout=3000)  # the view moved down by the new rows
        top = view.table.rowAt(0)
        assert model.index(top, PAYLOAD_COLUMN).data() == f"n{1000 - rows}"  # the same row still at the top
        assert model.index(0, PAYLOAD_COLUMN).data() == f"n{1000 - model.rowCount()}"
        assert model.index(model.rowCount() - 1, PAYLOAD_COLUMN).data() == "n999"
        assert context.settings.value("audit/newestLast", type=bool)
        qtmodeltester.check(model)  # last: the tester pages rows in itself
    finally:
        view.shutdown()


def test_live_rows_follow_at_the_bottom(context, mosquitto, qloop, qtbot):
    connect_and_wait(context, ConnectionProfile(name="test", host="127.0.0.1", port=mosquitto.port))
    context.bridge.start()
    context.settings.setValue("audit/newestLast", True)  # chosen on an earlier run
    view = AuditFeedView(context)
    qtbot.addWidget(view)
    view.resize(900, 200)
    view.show()
    try:
        assert view.model.newest_last and view.order_button.isChecked()
        run_until(qloop, lambda: view.recorder is not None, message="recording")  # the child's answer
        assert view.recorder.wait_ready(10)
        publish_raw(mosquitto.port, [("us-east/hello/request", f"live {i}".encode()) for i in range(30)])
        model = view.model
        run_until(qloop, lambda: model.rowCount() == 30, message="thirty live rows")
        assert model.index(29, PAYLOAD_COLUMN).data() == "live 29" and model.index(0, PAYLOAD_COLUMN).data() == "live 0"
        bar = view.table.verticalScrollBar()
        run_until(qloop, lambda: bar.value() == bar.maximum() > 0, message="following the newest at the bottom")
    finally:
        view.shutdown()
