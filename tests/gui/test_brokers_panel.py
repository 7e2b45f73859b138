"""Several brokers in one window: add beside, remove one without disturbing the others, restore on restart."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt

from eventscope.core.profile import ConnectionProfile
from eventscope.gui.context import AppContext
from eventscope.gui.main_window import MainWindow
from eventscope.gui.models.broker_table_model import NAME, NOTES, STATE
from eventscope.gui.models.stream_table_model import BROKER, PAYLOAD, REGION
from tests.conftest import publish_raw
from tests.gui.conftest import add_through_dialog, run_until


def _window(qtbot, context) -> MainWindow:
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.resize(1366, 768)
    window.show()
    return window


def _add(qtbot, window, port: int, read_only: bool = False):
    return add_through_dialog(qtbot, window, f"127.0.0.1:{port}", read_only=read_only, save=False)


def _cells(panel, column: int) -> list[str]:
    model = panel.model
    return [model.index(row, column).data() for row in range(model.rowCount())]


def test_brokers_open_side_by_side_and_one_leaves_without_disturbing_the_other(context, qloop, qtbot,
                                                                              mosquitto_factory):
    east, west = mosquitto_factory(), mosquitto_factory()
    window = _window(qtbot, context)
    panel = window.brokers_panel
    _add(qtbot, window, east.port)
    _add(qtbot, window, west.port, read_only=True)
    names = [f"127.0.0.1:{east.port}", f"127.0.0.1:{west.port}"]
    run_until(qloop, lambda: _cells(panel, NAME) == names and all(s.startswith("Connected") for s in _cells(panel, STATE)),
              message="two connected brokers in the panel")
    assert "TLS" not in _cells(panel, NOTES)[0] and _cells(panel, NOTES)[1].startswith("read-only")
    assert context.connection.broker_id == names[0]  # the first one stays current
    assert window.windowTitle().endswith("+ 1 more broker")
    dialog = _add(qtbot, window, east.port)
    assert "already" in dialog.error_label.text() and len(context.connections()) == 2
    dialog.close()

    tree = context.workspace.tree
    publish_raw(east.port, [("plant/temp", b"east 1")])
    publish_raw(west.port, [("plant/temp", b"west 1")])
    run_until(qloop, lambda: tree.node("plant/temp", names[0]) is not None and tree.node("plant/temp", names[1]) is not None,
              message="the topic on both brokers")

    # One stream over both brokers: every region's requests in one table, each with its broker.
    publish_raw(east.port, [("us-east/hello/request", b"from east")])
    publish_raw(west.port, [("us-west/hello/request", b"from west")])
    stream = window.stream_view.stream_tab().model

    def stream_rows() -> set[tuple[str, str, str]]:
        return {tuple(stream.index(r, c).data() for c in (BROKER, REGION, PAYLOAD)) for r in range(stream.rowCount())}

    run_until(qloop, lambda: stream_rows() == {(names[0], "us-east", "from east"), (names[1], "us-west", "from west")},
              message="both brokers' requests in the stream")
    tab = window.stream_view.stream_tab()
    west_action = tab.brokers_menu.findChild(object, f"streamBroker_{names[1]}")
    west_action.trigger()  # tick west only in the stream's broker menu
    assert tab.brokers_button.text() == names[1]
    run_until(qloop, lambda: stream_rows() == {(names[1], "us-west", "from west")}, message="west's rows only")
    tab.choose_brokers(())
    run_until(qloop, lambda: len(stream_rows()) == 2, message="both brokers again, nothing lost")

    panel.select(names[0])
    qtbot.mouseClick(panel.remove_button, Qt.LeftButton)
    assert _cells(panel, NAME) == [names[1]]
    assert context.connection.broker_id == names[1]  # the remaining broker became current
    west_node = tree.node("plant/temp", names[1])
    publish_raw(west.port, [("plant/temp", b"west 2")])
    run_until(qloop, lambda: west_node.count == 2 and west_node.last.payload == b"west 2", message="west undisturbed")
    run_until(qloop, lambda: window.topic_tree.model.rowCount() == 1, message="east's root gone from the tree")


def test_the_open_brokers_come_back_on_the_next_start(context, qloop, qtbot, settings, mosquitto_factory):
    east, west = mosquitto_factory(), mosquitto_factory()
    window = _window(qtbot, context)
    window.add_broker(ConnectionProfile(name="us-east", host="127.0.0.1", port=east.port))
    window.add_broker(ConnectionProfile(name="us-west", host="127.0.0.1", port=west.port, read_only=True))
    window.close()
    saved = json.loads(settings.value(MainWindow.WORKSPACE_KEY))
    assert [p["connection"]["name"] for p in saved] == ["us-east", "us-west"]
    assert all("password" not in p["connection"] for p in saved)

    again = AppContext(settings)
    try:
        reopened = _window(qtbot, again)
        assert reopened.restore_workspace() == 2
        assert [c.broker_id for c in again.connections()] == ["us-east", "us-west"]
        assert again.workspace.broker("us-west").profile.read_only
        run_until(qloop, lambda: all(c.session.is_connected for c in again.connections()), message="both reconnected")
    finally:
        again.shutdown()
    # A workspace saved before profiles existed (a list of bare connections) still opens.
    settings.setValue(MainWindow.WORKSPACE_KEY, json.dumps([p["connection"] for p in saved]))
    legacy = AppContext(settings)
    try:
        assert _window(qtbot, legacy).restore_workspace() == 2
        assert [c.broker_id for c in legacy.connections()] == ["us-east", "us-west"]
    finally:
        legacy.shutdown()


def test_window_opens_every_profile_given_on_the_command_line(tmp_path, mosquitto_factory):
    import os
    import subprocess
    import sys

    from eventscope.core.profiles.store import ProfileStore, StoredProfile
    from tests.conftest import wait_until

    east, west = mosquitto_factory(), mosquitto_factory()
    store = ProfileStore.load()
    for name, broker in (("east", east), ("west", west)):
        store.put(StoredProfile(ConnectionProfile(name=name, host="127.0.0.1", port=broker.port), region=name))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    shot = tmp_path / "two.png"
    result = subprocess.run([sys.executable, "-m", "eventscope", "--profile", "east", "--profile", "west",
                             "--screenshot", str(shot), "--quit-after", "4"], capture_output=True, text=True,
                            timeout=90, env=env)
    assert result.returncode == 0, result.stderr
    for broker in (east, west):  # each broker saw the window's client
        wait_until(lambda b=broker: "New client connected" in b.log_path.read_text(), message="a window client")
    missing = subprocess.run([sys.executable, "-m", "eventscope", "--profile", "nowhere", "--quit-after", "1"],
                             capture_output=True, text=True, timeout=60, env=env)
    assert missing.returncode == 1 and "No profile named 'nowhere' (profiles: east, west)" in missing.stderr


def test_disconnecting_one_broker_keeps_its_row_and_topics_and_never_disturbs_the_other(context, qloop, qtbot,
                                                                                         mosquitto_factory):
    east, west = mosquitto_factory(), mosquitto_factory()
    window = _window(qtbot, context)
    panel = window.brokers_panel
    window.add_broker(ConnectionProfile(name="east", host="127.0.0.1", port=east.port))
    window.add_broker(ConnectionProfile(name="west", host="127.0.0.1", port=west.port))
    run_until(qloop, lambda: all(c.session.is_connected for c in context.connections()), message="both connected")
    tree = context.workspace.tree
    publish_raw(east.port, [("plant/temp", b"east 1")])
    run_until(qloop, lambda: tree.node("plant/temp", "east") is not None, message="east's topic")

    qtbot.mouseClick(panel.row_button("east"), Qt.LeftButton)
    run_until(qloop, lambda: _cells(panel, STATE)[0].startswith("Disconnected"), message="east disconnected")
    assert _cells(panel, NAME) == ["east", "west"] and panel.row_button("east").text() == "Connect"
    assert context.connection.broker_id == "west"  # the open one took over as current
    assert window.status_bar.brokers_label.text() == "1/2 brokers connected"
    model = window.topic_tree.model
    run_until(qloop, lambda: model.rowCount() == 1, message="east's root in the tree, by the next frame")
    assert tree.node("plant/temp", "east").last.payload == b"east 1"  # topics stay
    publish_raw(west.port, [("plant/temp", b"west 1")])
    run_until(qloop, lambda: tree.node("plant/temp", "west") is not None, message="west undisturbed")
    west_node = tree.node("plant/temp", "west")

    qtbot.mouseClick(panel.row_button("east"), Qt.LeftButton)
    run_until(qloop, lambda: _cells(panel, STATE)[0] == "Connected", message="east connected again")
    context.workspace.broker("east").session.subscribe("#").result(10)
    publish_raw(east.port, [("plant/temp", b"east 2")])
    east_node = tree.node("plant/temp", "east")
    run_until(qloop, lambda: east_node.count == 2 and east_node.last.payload == b"east 2",
              message="east's new message on the same node")
    assert west_node.count == 1 and model.rowCount() == 2


def test_a_stream_takes_its_region_from_the_broker_profile(context, qloop, qtbot, mosquitto_factory):
    from eventscope.core.profiles.store import StoredProfile

    east, europe = mosquitto_factory(), mosquitto_factory()
    window = _window(qtbot, context)
    window.open_stored_profile(StoredProfile(ConnectionProfile(name="east-1", host="127.0.0.1", port=east.port),
                                             region="us-east"))
    window.open_stored_profile(StoredProfile(ConnectionProfile(name="frankfurt", host="127.0.0.1", port=europe.port)))
    run_until(qloop, lambda: all(c.session.is_connected for c in context.connections()), message="both connected")
    for connection in context.connections():
        connection.session.subscribe("#").result(10)
    tab = window.stream_view.stream_tab()
    tab.filter_edit.setText("hello/request")  # no region in the topic: only the broker knows it
    tab.filter_edit.editingFinished.emit()
    tab.region_source.setCurrentIndex(tab.region_source.findData(True))
    assert not tab.level_spin.isEnabled()
    publish_raw(east.port, [("hello/request", b"from east")])
    publish_raw(europe.port, [("hello/request", b"from europe")])
    model = tab.model

    def rows() -> set[tuple[str, str]]:
        return {(model.index(r, REGION).data(), model.index(r, PAYLOAD).data()) for r in range(model.rowCount())}

    # The broker's profile region, or its name when the profile has none.
    run_until(qloop, lambda: rows() == {("us-east", "from east"), ("frankfurt", "from europe")}, message="both regions")
    run_until(qloop, lambda: window.findChild(object, "regionChip_us-east") is not None, message="broker-region chips")
    qtbot.mouseClick(tab.chips.none_button, Qt.LeftButton)
    qtbot.mouseClick(window.findChild(object, "regionChip_us-east"), Qt.LeftButton)
    run_until(qloop, lambda: rows() == {("us-east", "from east")}, message="narrowed to us-east")
    tab.region_source.setCurrentIndex(tab.region_source.findData(False))  # back to the topic's first level
    run_until(qloop, lambda: rows() == {("hello", "from east"), ("hello", "from europe")}, message="topic regions again")


def test_connect_on_a_row_uses_the_profile_as_saved_now(context, qloop, qtbot, mosquitto_factory):
    from eventscope.core.profiles.store import ProfileStore, StoredProfile

    old, new = mosquitto_factory(), mosquitto_factory()
    window = _window(qtbot, context)
    store = ProfileStore.load()
    store.put(StoredProfile(ConnectionProfile(name="plant", host="127.0.0.1", port=old.port), region="eu"))
    window.open_stored_profile(store.get("plant"))
    run_until(qloop, lambda: context.session is not None and context.session.is_connected, message="connected")
    qtbot.mouseClick(window.brokers_panel.row_button("plant"), Qt.LeftButton)
    run_until(qloop, lambda: not context.is_open("plant"), message="disconnected")
    store.put(StoredProfile(ConnectionProfile(name="plant", host="127.0.0.1", port=new.port), region="eu-west"))
    qtbot.mouseClick(window.brokers_panel.row_button("plant"), Qt.LeftButton)  # fixed in the profile meanwhile
    run_until(qloop, lambda: context.session is not None and context.session.is_connected, message="reconnected")
    assert context.connection.profile.port == new.port and context.entry("plant").region == "eu-west"


def test_the_panel_fits_its_brokers_in_whole_rows_and_shows_each_port(context, qloop, qtbot, mosquitto):
    from eventscope.gui.models.broker_table_model import ADDRESS
    from eventscope.gui.views.brokers_panel import ROW_HEIGHT

    window = _window(qtbot, context)
    window.resize(1024, 700)
    window.reset_layout()
    panel = window.brokers_panel
    table = panel.table
    header = table.horizontalHeader().height()

    def whole_rows() -> bool:
        viewport = table.viewport().height()
        top = table.visualRect(table.model().index(table.rowAt(0), 1))
        return viewport % ROW_HEIGHT <= 2 and top.top() >= 0  # no row half under the header

    window.add_broker(ConnectionProfile(name="east", host="127.0.0.1", port=mosquitto.port))
    run_until(qloop, lambda: panel.model.rowCount() == 1 and table.isVisible(), message="one row")
    run_until(qloop, lambda: table.height() <= header + 2 * ROW_HEIGHT, message="no empty rows below the one broker")
    assert _cells(panel, ADDRESS) == [f"127.0.0.1:{mosquitto.port}"]  # the port in view, not "mqtt://…"
    for name in ("west", "eu-central"):
        window.add_broker(ConnectionProfile(name=name, host="127.0.0.1", port=mosquitto.port))
    run_until(qloop, lambda: panel.model.rowCount() == 3, message="three rows")
    # The panel grows to its new rows a frame after they arrive: wait for both, not for the first frame
    # that happens to show whole rows (one of them).
    run_until(qloop, lambda: whole_rows() and table.viewport().height() >= 2 * ROW_HEIGHT,
              message="whole rows only, two of the three in view at 1024×700")
    assert whole_rows() and table.viewport().height() >= 2 * ROW_HEIGHT
    assert (window.width(), window.height()) == (1024, 700)
