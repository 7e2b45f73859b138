"""The audit feed's order toggle: newest at the bottom as streams show it, older pages loading at the top,
live rows following at the bottom, and the choice kept for the next start."""

from __future__ import annotations

from PySide6.QtCore import Qt

from eventscope.core.audit_store import AuditStore
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
        qtbot.mouseClick(view.order_button, Qt.LeftButton)
        assert model.newest_last and view.order_button.text().startswith("Newest at the bottom")
        qtmodeltester.check(model)
        rows = model.rowCount()
        assert model.index(rows - 1, PAYLOAD_COLUMN).data() == "n999"  # newest last
        assert model.index(0, PAYLOAD_COLUMN).data() == f"n{1000 - rows}"
        view.table.scrollToTop()  # older rows come in above, and the view keeps its place
        qtbot.waitUntil(lambda: model.rowCount() > rows, timeout=3000)
        assert model.index(0, PAYLOAD_COLUMN).data() == f"n{1000 - model.rowCount()}"
        assert model.index(model.rowCount() - 1, PAYLOAD_COLUMN).data() == "n999"
        assert model.rowCount() % PAGE_SIZE == 0
        assert context.settings.value("audit/newestLast", type=bool)
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
        assert view.recorder is not None and view.recorder.wait_ready(10)
        publish_raw(mosquitto.port, [("us-east/hello/request", f"live {i}".encode()) for i in range(30)])
        model = view.model
        run_until(qloop, lambda: model.rowCount() == 30, message="thirty live rows")
        assert model.index(29, PAYLOAD_COLUMN).data() == "live 29" and model.index(0, PAYLOAD_COLUMN).data() == "live 0"
        bar = view.table.verticalScrollBar()
        run_until(qloop, lambda: bar.value() == bar.maximum() > 0, message="following the newest at the bottom")
    finally:
        view.shutdown()
