"""The audit feed against a real Mosquitto: pairing with RTT, paging, search, export, bad databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QProgressDialog

from eventscope.core.audit.export import read_export, row_to_json
from eventscope.core.audit.feed import FeedReader
from eventscope.core.audit.store import AuditQuery, AuditStore, default_audit_path
from eventscope.core.profile import ConnectionProfile
from eventscope.core.records import MessageRecord
from eventscope.core.workspace.brokers import WORKSPACE_AUDIT_NAME
from eventscope.gui.context import AppContext
from eventscope.gui.models.audit_table_model import (
    BROKER_COLUMN,
    KIND_COLUMN,
    PAGE_SIZE,
    PATH_COLUMN,
    PAYLOAD_COLUMN,
    REPLY_COLUMN,
    RTT_COLUMN,
    AuditTableModel,
)
from eventscope.gui.models.broker_table_model import AUDIT_WAITING, NOTES, BrokerTableModel
from eventscope.gui.views.audit_feed_view import AuditFeedView
from tests.conftest import publish_raw
from tests.gui.conftest import connect_and_wait, run_until


@pytest.fixture
def make_feed(qtbot):
    views: list[AuditFeedView] = []

    def make(context, **kwargs) -> AuditFeedView:
        view = AuditFeedView(context, **kwargs)
        qtbot.addWidget(view)
        view.show()
        views.append(view)
        return view

    yield make
    for view in views:
        view.shutdown()


def request_and_reply(port: int, n: int = 1) -> None:
    messages, props = [], []
    for i in range(n):
        messages.append(("us-east/hello/request", f"ping {i}".encode()))
        props.append({"ResponseTopic": "us-east/hello/response", "CorrelationData": f"c{i}".encode()})
    for i in range(n):
        messages.append(("us-east/hello/response", f"pong {i}".encode()))
        props.append({"CorrelationData": f"c{i}".encode()})
    publish_raw(port, messages, props)


def cells(model: AuditTableModel, row: int) -> list[str]:
    return [model.index(row, c).data() for c in range(model.columnCount())]


def test_request_row_shows_its_reply_and_rtt(connected_context, qloop, qtbot, qtmodeltester, make_feed):
    view = make_feed(connected_context)
    model = view.model
    qtmodeltester.check(model)
    run_until(qloop, lambda: view.recorder is not None, message="recording")  # the child's answer, never awaited
    assert view.recorder.wait_ready(10)
    request_and_reply(connected_context.profile.port)
    run_until(qloop, lambda: model.rowCount() == 2 and model.index(1, RTT_COLUMN).data(), message="paired rows")
    reply_row, request_row = cells(model, 0), cells(model, 1)
    assert request_row[KIND_COLUMN] == "request" and reply_row[KIND_COLUMN] == "reply"  # newest first
    assert request_row[BROKER_COLUMN] == "test"
    reader = AuditStore.open_reader(view.path)
    (stored_request,) = reader.page_before(AuditQuery(kind="request"), None, 10)
    reader.close()
    assert stored_request.rtt_ms is not None and request_row[RTT_COLUMN] == f"{stored_request.rtt_ms:.1f}"
    assert request_row[REPLY_COLUMN] == "us-east/hello/response: pong 0"
    assert view.path == default_audit_path(WORKSPACE_AUDIT_NAME)  # one database for every broker
    with qtbot.waitSignal(connected_context.messageSelected, timeout=2000) as blocker:
        view.table.selectRow(1)
    record = blocker.args[0]
    assert (record.topic, record.payload, record.properties.correlation_data) == ("us-east/hello/request", b"ping 0", b"c0")


def test_paging_opens_large_store_lazily_and_search_narrows(context, qtbot, qtmodeltester, make_feed, tmp_path):
    db = tmp_path / "big.sqlite3"
    store = AuditStore(db, max_age_seconds=0)
    for start in range(0, 5000, 1000):
        store.write_batch([MessageRecord(f"r{i % 4}/hello/request", f"n{i}".encode(), received=1e9 + i)
                           for i in range(start, start + 1000)])
    store.close()
    view = make_feed(context, db_path=db)
    model = view.model
    qtbot.waitUntil(lambda: model.rowCount() > 0 and not model.busy, timeout=5000)  # read on the reader's thread
    qtmodeltester.check(model)
    loaded = model.rowCount()
    assert loaded < 5000 and loaded % PAGE_SIZE == 0 and not model.feed.exhausted  # only what the viewport needs
    assert model.index(0, PAYLOAD_COLUMN).data() == "n4999"
    view.table.scrollToBottom()
    qtbot.waitUntil(lambda: model.rowCount() > loaded, timeout=3000)  # the view asked for the next page
    view.region_edit.setText("r2")
    view.text_edit.setText("n4")
    view.apply_search()

    def everything_loaded() -> bool:
        if model.canFetchMore():
            model.fetchMore()  # each page is asked for once the previous one is in
        return not model.busy and not model.canFetchMore()

    qtbot.waitUntil(everything_loaded, timeout=10000)
    expected = sum(1 for i in range(5000) if i % 4 == 2 and str(i).startswith("4"))  # region r2, payload "n4…"
    assert model.rowCount() == expected
    rows = [model.row(r) for r in range(model.rowCount())]
    assert all(r.region == "r2" and b"n4" in r.payload for r in rows)


def test_export_csv_and_jsonl_round_trip(context, qtbot, make_feed, tmp_path):
    db = tmp_path / "a.sqlite3"
    store = AuditStore(db, max_age_seconds=0)
    store.write_batch([MessageRecord(f"r{i % 3}/hello/request", f"x{i}\n<i>,\"".encode(), received=1e9 + i)
                       for i in range(5000)] + [MessageRecord("r9/bin", bytes(range(40)), received=2e9)])
    expected = [row_to_json(r) for chunk in store.iter_rows(AuditQuery(region="r1")) for r in chunk]
    store.close()
    view = make_feed(context, db_path=db)
    view.region_edit.setText("r1")
    view.apply_search()
    for fmt in ("csv", "jsonl"):
        path = tmp_path / f"out.{fmt}"
        with qtbot.waitSignal(view.exportFinished, timeout=10000) as blocker:
            assert view.export_to(path, fmt) is not None
        assert blocker.args == [str(path), len(expected), False]
        back = read_export(path)
        for item in back:
            item.pop("payload_bytes")
        assert back == expected


def test_export_can_be_cancelled(context, qtbot, make_feed, tmp_path):
    db = tmp_path / "a.sqlite3"
    store = AuditStore(db, max_age_seconds=0)
    store.write_batch([MessageRecord("t", b"x", received=1e9)] * 60_000)
    store.close()
    view = make_feed(context, db_path=db)
    out = tmp_path / "out.jsonl"
    assert view.export_to(out, "jsonl") is not None  # runs on the reader's thread, not this one
    dialog = view.findChild(QProgressDialog, "auditExportProgress")
    with qtbot.waitSignal(view.exportFinished, timeout=10000) as blocker:
        dialog.cancel()  # the dialog's Cancel, as the user presses it
    path, written, cancelled = blocker.args
    assert cancelled is True and written < 60_000
    assert len(out.read_text().splitlines()) == written


def test_corrupt_database_is_moved_aside_and_recording_starts(connected_context, qloop, make_feed):
    path = default_audit_path(WORKSPACE_AUDIT_NAME)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"garbage, not SQLite" * 500)
    view = make_feed(connected_context)
    run_until(qloop, lambda: view.warning_label.isVisible(), message="the notice")
    assert "moved to" in view.warning_label.text() and "new, empty audit database" in view.warning_label.text()
    assert list(path.parent.glob(path.name + ".corrupt-*"))
    run_until(qloop, lambda: view.recorder is not None, message="recording")
    assert view.recorder.wait_ready(10)
    request_and_reply(connected_context.profile.port)
    run_until(qloop, lambda: view.model.rowCount() == 2, message="rows in the fresh store")


def test_full_disk_shows_a_warning_and_keeps_going(connected_context, qloop, make_feed):
    view = make_feed(connected_context)
    run_until(qloop, lambda: view.recorder is not None, message="recording")
    assert view.recorder.wait_ready(10)
    connected_context.set_audit(max_bytes=1)  # the file may not grow: every commit fails as on a full disk
    run_until(qloop, lambda: view.recorder is not None, message="recording again")
    assert view.recorder.wait_ready(10)
    port = connected_context.profile.port
    publish_raw(port, [("us-east/hello/request", bytes(4000) + str(i).encode()) for i in range(30)])
    run_until(qloop, lambda: "full" in view.warning_label.text() and view.warning_label.isVisible(),
              message="the disk-full warning")
    assert "waiting in memory" in view.warning_label.text()
    assert view.model.rowCount() == 0  # kept in memory, not acknowledged
    publish_raw(port, [("live/feed", b"still running")])
    tree = connected_context.workspace.tree
    run_until(qloop, lambda: tree.node("live/feed") is not None, message="the live feed")
    # Space again: the broker redelivers everything that was never acknowledged.
    connected_context.set_audit()
    run_until(qloop, lambda: view.model.rowCount() == 30, timeout=15, message="the waiting rows stored")
    assert not view.warning_label.isVisible()
    assert sorted(int(view.model.row(r).payload[4000:]) for r in range(30)) == list(range(30))


def test_second_window_waits_for_the_first_recorder_and_records_once_it_closes(connected_context, qloop, make_feed,
                                                                               settings, mosquitto):
    first = make_feed(connected_context)
    run_until(qloop, lambda: first.recorder is not None, message="recording")
    assert first.recorder.wait_ready(10)
    other_window = AppContext(settings)
    try:
        connect_and_wait(other_window, ConnectionProfile(name="test", host="127.0.0.1", port=mosquitto.port))
        other_window.bridge.start()  # the recorder's state reaches a window with its change summaries
        second = make_feed(other_window)
        brokers = BrokerTableModel(other_window)
        run_until(qloop, lambda: second.warning_label.isVisible(), message="why the second window waits")
        assert second.warning_label.text() == (
            f"Another Eventscope is recording {Path(second.path).name}: this one starts recording as soon as that "
            "one stops, and the broker keeps the messages meanwhile")
        run_until(qloop, lambda: brokers.index(0, NOTES).data() == AUDIT_WAITING, message="the broker row's note")
        assert brokers.index(0, NOTES).data(Qt.ItemDataRole.ToolTipRole) == second.warning_label.text()
        # The first window still records: not kicked off the broker by a clashing client id.
        request_and_reply(mosquitto.port)
        run_until(qloop, lambda: first.model.rowCount() == 2, message="the first window's rows")
        first.shutdown()
        connected_context.shutdown()  # the first window closes: its final commit, then the lock is free
        run_until(qloop, lambda: not second.warning_label.isVisible(), timeout=15, message="the second one records")
        assert brokers.index(0, NOTES).data() == ""
        request_and_reply(mosquitto.port, 2)
        # The feed reads back what the first window recorded, then shows the new pairs: each row once.
        run_until(qloop, lambda: second.model.rowCount() == 6, message="the second window's rows")
        assert sorted(second.model.row(r).payload for r in range(6)) == sorted(
            [b"ping 0", b"pong 0", b"ping 0", b"pong 0", b"ping 1", b"pong 1"])
        reader = AuditStore.open_reader(second.path)
        stored = sorted(row.payload for row in reader.page_before(AuditQuery(), None, 100))
        reader.close()
        assert stored == sorted([b"ping 0", b"pong 0", b"ping 0", b"pong 0", b"ping 1", b"pong 1"])  # each once
    finally:
        other_window.shutdown()


def test_rows_from_several_writers_land_in_order_and_early_sightings_wait(qtbot, qtmodeltester, tmp_path):
    from eventscope.core.audit.store import Sighting

    store = AuditStore(tmp_path / "w.sqlite3", max_age_seconds=0)
    reader = FeedReader(store.path)
    model = AuditTableModel(reader)
    qtbot.waitUntil(lambda: not model.busy, timeout=5000)  # the (empty) first page
    qtmodeltester.check(model)
    first = store.write_batch([MessageRecord("a/hello/request", b"1", received=1.0)], broker="east")
    second = store.write_batch([MessageRecord("b/hello/request", b"2", received=2.0)], broker="west")
    # west's writer was reported first, and east's sighting of it came before either row.
    model.add_committed((), (), sightings=(Sighting(first.first_id, "west", 1.04),))
    model.add_committed(second.rows, ())
    model.add_committed(first.rows, ())
    assert [model.row(r).id for r in range(model.rowCount())] == [second.first_id, first.first_id]  # newest first
    assert model.index(1, PATH_COLUMN).data() == "east +0 ms → west +40 ms"
    model.add_committed(first.rows, ())  # reported twice: shown once
    assert model.rowCount() == 2
    reader.close()
    store.close()
