"""The Streams view against a real Mosquitto: region chips narrow the table, pause loses nothing."""

from __future__ import annotations

import subprocess

from PySide6.QtCore import Qt

from eventscope.core.records import MessageRecord
from eventscope.gui.models.stream_table_model import PAYLOAD, REGION, TOPIC
from eventscope.gui.views.stream_view import StreamView
from tests.conftest import publish_raw
from tests.gui.conftest import run_until
from tests.helpers.region_topics import REGION_TOPICS


def model_topics(model) -> list[str]:
    return [model.index(r, TOPIC).data() for r in range(model.rowCount())]


def make_view(qtbot, context) -> StreamView:
    view = StreamView(context)
    qtbot.addWidget(view)
    view.show()
    return view


def test_region_chip_click_narrows_the_table(connected_context, qloop, qtbot, qtmodeltester, mosquitto, mosquitto_pub):
    view = make_view(qtbot, connected_context)
    tab = view.stream_tab()
    assert tab.filter_edit.text() == "+/hello/request"
    qtmodeltester.check(tab.model)
    for i, topic in enumerate(REGION_TOPICS):
        subprocess.run([mosquitto_pub, "-p", str(mosquitto.port), "-t", topic, "-m", f"m{i}", "-q", "1"], check=True)
    run_until(qloop, lambda: tab.model.rowCount() == 3, message="three matching rows")
    assert model_topics(tab.model) == ["us-east/hello/request", "eu-west/hello/request", "ap-south/hello/request"]
    run_until(qloop, lambda: view.findChild(object, "regionChip_ap-south") is not None, message="chips")
    chips = tab.chips
    assert chips.shown == {"us-east", "eu-west", "ap-south"}  # checked means shown: all, to begin with
    assert [chips._layout.itemAt(i).widget().objectName() for i in range(chips._first_chip, chips._first_chip + 3)] \
        == ["regionChip_ap-south", "regionChip_eu-west", "regionChip_us-east"]  # a stable, sorted order
    qtbot.mouseClick(chips.none_button, Qt.LeftButton)
    run_until(qloop, lambda: tab.model.rowCount() == 0, message="None hides every region")
    for region in ("us-east", "eu-west"):
        chip = view.findChild(object, f"regionChip_{region}")
        assert chip.text().startswith(f"✕ {region}  1 msgs ·")  # hidden, said in words and not only a shade
        qtbot.mouseClick(chip, Qt.LeftButton)
        assert chip.text().startswith(f"✓ {region}  1 msgs ·")
    run_until(qloop, lambda: model_topics(tab.model) == ["us-east/hello/request", "eu-west/hello/request"],
              message="the narrowed table")
    assert [r.topic for r in tab.stream.records()] == model_topics(tab.model)  # core and model agree
    assert [tab.model.index(r, PAYLOAD).data() for r in range(2)] == ["m0", "m1"]
    assert {"us-east", "eu-west", "ap-south"} <= set(connected_context.regions)


def test_region_level_one_and_invalid_filter(connected_context, qloop, qtbot):
    view = make_view(qtbot, connected_context)
    tab = view.stream_tab()
    qtbot.keyClicks(tab.filter_edit, "/extra/+")  # typed at the end of "+/hello/request": still valid
    qtbot.keyClick(tab.filter_edit, Qt.Key_Return)
    assert not tab.error_label.isVisible() and tab.stream_filter.topic_filter == "+/hello/request/extra/+"
    tab.filter_edit.setText("fleet/#/x")  # now break it
    tab.filter_edit.editingFinished.emit()
    assert tab.error_label.isVisible() and "'#' must be the last level" in tab.error_label.text()
    assert tab.stream_filter.topic_filter == "+/hello/request/extra/+"  # the last valid filter stays
    tab.filter_edit.setText("fleet/+/hello/request")
    tab.level_spin.setValue(1)
    assert tab.level_spin.text() == "2nd level"  # counted as people count, not from 0
    tab.filter_edit.editingFinished.emit()
    assert not tab.error_label.isVisible()
    port = connected_context.profile.port
    publish_raw(port, [(f"fleet/{region}/hello/request", region.encode()) for region in ("us-east", "eu-west")])
    run_until(qloop, lambda: tab.model.rowCount() == 2, message="two fleet rows")
    assert [tab.model.index(r, REGION).data() for r in range(2)] == ["us-east", "eu-west"]
    run_until(qloop, lambda: view.findChild(object, "regionChip_eu-west") is not None, message="chips at level 1")
    qtbot.mouseClick(view.findChild(object, "regionChip_us-east"), Qt.LeftButton)  # untick: hide us-east
    run_until(qloop, lambda: model_topics(tab.model) == ["fleet/eu-west/hello/request"], message="eu-west only")
    qtbot.mouseClick(tab.chips.all_button, Qt.LeftButton)
    run_until(qloop, lambda: tab.model.rowCount() == 2, message="All shows both again")


def test_pause_then_resume_loses_nothing(connected_context, qloop, qtbot):
    view = make_view(qtbot, connected_context)
    tab = view.stream_tab()
    port = connected_context.profile.port
    publish_raw(port, [("us-east/hello/request", b"first")])
    run_until(qloop, lambda: tab.model.rowCount() == 1, message="first row")
    tab.table.setFocus()
    qtbot.keyClick(tab.table, Qt.Key_Space)
    assert tab.pause_button.isChecked()
    publish_raw(port, [("us-east/hello/request", f"p{i}".encode()) for i in range(50)])
    run_until(qloop, lambda: tab.waiting_label.text() == "50 waiting", message="50 waiting")
    assert tab.model.rowCount() == 1  # frozen view
    qtbot.mouseClick(tab.pause_button, Qt.LeftButton)
    assert not tab.pause_button.isChecked()
    expected = ["first"] + [f"p{i}" for i in range(50)]
    run_until(qloop, lambda: [tab.model.index(r, PAYLOAD).data() for r in range(tab.model.rowCount())] == expected,
              message="the waiting rows shown in order")


def test_selecting_a_row_emits_message_selected(connected_context, qloop, qtbot):
    view = make_view(qtbot, connected_context)
    tab = view.stream_tab()
    publish_raw(connected_context.profile.port, [("us-east/hello/request", b"<b>select me</b>")])
    run_until(qloop, lambda: tab.model.rowCount() == 1, message="a row")
    assert tab.model.index(0, PAYLOAD).data() == "<b>select me</b>"  # plain text, literally
    with qtbot.waitSignal(connected_context.messageSelected, timeout=2000) as blocker:
        tab.table.selectRow(0)
    assert blocker.args[0].payload == b"<b>select me</b>"


def test_dollar_filter_adds_a_session_subscription(connected_context, qloop, qtbot):
    view = make_view(qtbot, connected_context)
    tab = view.stream_tab()
    tab.filter_edit.setText("$SYS/broker/uptime")
    tab.filter_edit.editingFinished.emit()
    assert "$SYS/broker/uptime" in connected_context.session.subscriptions
    run_until(qloop, lambda: tab.model.rowCount() >= 1, timeout=15, message="a $SYS message")


def test_model_follows_evictions_in_ranges(context, qtbot, qtmodeltester):
    view = make_view(qtbot, context)
    tab = view.stream_tab()
    tab.stream.capacity = 20
    qtmodeltester.check(tab.model)  # Qt's tester stays attached and checks every signal below
    inserts, removes, resets = [], [], []
    tab.model.rowsInserted.connect(lambda _p, a, b: inserts.append((a, b)))
    tab.model.rowsRemoved.connect(lambda _p, a, b: removes.append((a, b)))
    tab.model.modelReset.connect(lambda: resets.append(1))
    for batch in range(5):
        context.workspace.feed(MessageRecord(f"r{i % 2}/hello/request", f"{batch}-{i}".encode()) for i in range(8))
        context.bridge.flush()
    assert tab.model.rowCount() == 20 and not resets
    assert inserts[-1] == (12, 19) and removes[-1] == (0, 7)
    assert len(inserts) == 5  # one insertion range per batch
    assert tab.model.index(0, PAYLOAD).data() == "2-4" and tab.model.index(19, PAYLOAD).data() == "4-7"
    assert [r.payload for r in tab.model.records()] == [r.payload for r in tab.stream.records()]


def test_stream_tabs_persist_and_a_corrupt_saved_filter_is_skipped(context, qtbot, settings):
    from eventscope.gui.context import AppContext
    from eventscope.gui.views.stream_view import STREAMS_KEY

    view = make_view(qtbot, context)
    tab = view.add_stream("fleet/+/hello/request")
    tab.filter_edit.setText("+/telemetry/#")
    tab.filter_edit.editingFinished.emit()
    assert settings.value(STREAMS_KEY) == ["+/hello/request", "+/telemetry/#"]
    reopened = make_view(qtbot, AppContext(settings))
    assert [reopened.stream_tab(i).stream_filter.topic_filter for i in range(reopened.tabs.count())] == \
        ["+/hello/request", "+/telemetry/#"]
    settings.setValue(STREAMS_KEY, ["a/#/b"])
    fallback = make_view(qtbot, AppContext(settings))
    assert fallback.tabs.count() == 1 and fallback.stream_tab().stream_filter.topic_filter == "+/hello/request"
