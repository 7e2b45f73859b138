"""The window opens offscreen, adds brokers through the Brokers panel, shows their state, and keeps its settings."""

import ctypes
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt

from eventscope.core.profile import ConnectionProfile
from eventscope.core.profiles.store import ProfileStore
from eventscope.gui.context import AppContext
from eventscope.gui.main_window import MainWindow
from eventscope.gui.models.broker_table_model import STATE, TLS_OFF
from tests.conftest import free_port
from tests.gui.conftest import activate, add_through_dialog, run_until

MAIN_WIDGETS = ("brokersPanel", "requestPanel", "topicTree", "streamView", "auditFeed", "statusBar")


def _state(window, row: int = 0) -> str:
    return window.brokers_panel.model.index(row, STATE).data() or ""


def test_every_main_widget_has_a_stable_object_name_and_accessible_name(window):
    for name in MAIN_WIDGETS:
        widget = window.findChild(object, name)
        assert widget is not None, name
        assert widget.accessibleName(), name


def test_first_start_says_what_to_do(window):
    panel = window.brokers_panel
    assert panel.empty_label.isVisible() and "add one" in panel.empty_label.text()
    assert not panel.table.isVisible()


def test_add_connect_disconnect_and_connect_again_from_the_row(window, mosquitto, qtbot):
    dialog = add_through_dialog(qtbot, window, f"127.0.0.1:{mosquitto.port}")
    assert not dialog.isVisible()
    name = f"127.0.0.1:{mosquitto.port}"
    qtbot.waitUntil(lambda: _state(window) == "Connected", timeout=10000)
    qtbot.waitUntil(lambda: window.status_bar.state_label.text().startswith("Connected"), timeout=5000)
    button = window.brokers_panel.row_button(name)
    assert button.text() == "Disconnect"
    qtbot.mouseClick(button, Qt.LeftButton)
    qtbot.waitUntil(lambda: _state(window).startswith("Disconnected"), timeout=5000)
    assert button.text() == "Connect" and window.context.session is None
    assert [e.broker_id for e in window.context.entries()] == [name]  # the row stays
    qtbot.mouseClick(button, Qt.LeftButton)
    qtbot.waitUntil(lambda: _state(window) == "Connected", timeout=10000)
    assert window.context.connection.broker_id == name
    # Ctrl+Shift+C is a window shortcut: it works with the focus anywhere.
    activate(qtbot, window)
    window.topic_tree.setFocus()
    qtbot.keyClick(window, Qt.Key_C, Qt.ControlModifier | Qt.ShiftModifier)
    qtbot.waitUntil(lambda: _state(window).startswith("Disconnected"), timeout=5000)
    qtbot.keyClick(window, Qt.Key_C, Qt.ControlModifier | Qt.ShiftModifier)
    qtbot.waitUntil(lambda: _state(window) == "Connected", timeout=10000)
    assert ProfileStore.load().get(name).connection.port == mosquitto.port  # saved for the CLI and the next start


def test_unreachable_broker_shows_reconnect_attempts(window, qtbot):
    add_through_dialog(qtbot, window, f"127.0.0.1:{free_port()}")
    qtbot.waitUntil(lambda: "retrying (attempt" in _state(window), timeout=10000)
    assert _state(window).startswith("Connection refused")


def test_bad_address_is_explained_without_connecting(window, qtbot):
    dialog = add_through_dialog(qtbot, window, "ftp://nowhere")
    assert dialog.isVisible() and "Unknown scheme" in dialog.error_label.text()
    assert window.context.session is None and ProfileStore.load().names() == []
    dialog.form.colour_edit.setText("not-a-colour")
    dialog.form.address_edit.setText("127.0.0.1:1883")
    qtbot.mouseClick(dialog.connect_button, Qt.LeftButton)
    assert "not a colour" in dialog.error_label.text()
    dialog.form.colour_edit.clear()
    dialog.form.filters_edit.setText("a/#/b")
    qtbot.mouseClick(dialog.connect_button, Qt.LeftButton)
    assert "Audit filter 'a/#/b'" in dialog.error_label.text() and window.context.session is None
    dialog.close()


def test_tls_verification_off_is_shown_in_the_form_and_the_brokers_row(window, qtbot):
    qtbot.keyClick(window, Qt.Key_N, Qt.ControlModifier | Qt.ShiftModifier)
    form = window.add_broker_dialog.form
    assert not form.tls_warning.isVisibleTo(form)
    form.tls_check.setChecked(True)
    form.verify_check.setChecked(False)
    assert form.tls_warning.isVisibleTo(form) and "OFF" in form.tls_warning.text()
    form.address_edit.setText(f"127.0.0.1:{free_port()}")
    qtbot.mouseClick(window.add_broker_dialog.connect_button, Qt.LeftButton)
    notes = window.brokers_panel.model.notes(window.context.entries()[0])
    assert notes == [TLS_OFF]


def test_duplicate_name_is_refused_in_the_dialog(window, mosquitto, qtbot):
    add_through_dialog(qtbot, window, f"127.0.0.1:{mosquitto.port}", name="east", save=False)
    dialog = add_through_dialog(qtbot, window, f"127.0.0.1:{mosquitto.port}", name="east", save=False)
    assert dialog.isVisible() and "already" in dialog.error_label.text()
    assert len(window.context.entries()) == 1
    dialog.close()


def test_password_is_never_written_to_settings_profiles_or_logs(window, mosquitto, qtbot, settings, caplog,
                                                                isolated_user_dirs):
    import keyring

    from tests.helpers.memory_keyring import MemoryKeyring

    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    try:
        with caplog.at_level("DEBUG"):
            add_through_dialog(qtbot, window, f"127.0.0.1:{mosquitto.port}", name="alice-east", username="alice",
                               password="hunter2-secret")
            qtbot.waitUntil(lambda: bool(_state(window)), timeout=10000)
            window.close()
        assert ProfileStore.load().password("alice-east") == "hunter2-secret"  # in the keychain
    finally:
        keyring.set_keyring(previous)
    settings.sync()
    assert "alice-east" in open(settings.fileName(), encoding="utf-8").read()  # the workspace names it
    written = [p for p in isolated_user_dirs.rglob("*") if p.is_file()] + [Path(settings.fileName())]
    assert any(p.name == "profiles.json" for p in written)
    for path in written:
        assert b"hunter2-secret" not in path.read_bytes(), path
    assert "hunter2-secret" not in caplog.text


def test_settings_layout_and_workspace_persist_across_windows(qtbot, settings, mosquitto):
    first = MainWindow(AppContext(settings))
    qtbot.addWidget(first)
    first.resize(780, 560)  # within the offscreen screen (800×600), which restoreGeometry clamps to
    add_through_dialog(qtbot, first, f"127.0.0.1:{mosquitto.port}", name="east", read_only=True)
    first.close()
    saved_size = first.size()
    context = AppContext(QSettings(settings.fileName(), QSettings.IniFormat))
    second = MainWindow(context)
    qtbot.addWidget(second)
    try:
        assert second.restore_workspace() == 1
        entry = context.entry("east")
        assert entry.stored and entry.profile.read_only and entry.profile.port == mosquitto.port
        assert abs(second.size().width() - saved_size.width()) <= 120  # offscreen frames differ by the decoration
    finally:
        second.close()


def test_legacy_connection_settings_become_a_profile(qtbot, settings):
    settings.setValue("connection/recent", ["mqtts://legacy.example.com:8883", "127.0.0.1:1883"])
    settings.setValue("connection/username", "bob")
    settings.setValue("connection/read_only", True)
    settings.setValue("connection/advanced/keepalive", 45)
    settings.setValue("connection/advanced/client_id", "bob-monitor")
    window = MainWindow(AppContext(settings))
    qtbot.addWidget(window)
    try:
        profile = ProfileStore.load().get("legacy.example.com:8883").connection
        assert (profile.tls.enabled, profile.tls.verify, profile.username, profile.read_only) == (True, True, "bob", True)
        assert (profile.keepalive, profile.client_id) == (45, "bob-monitor")
        assert not [k for k in settings.allKeys() if k.startswith("connection/")]
        assert "legacy.example.com:8883" in window.status_bar.currentMessage()
    finally:
        window.close()


def test_an_unreadable_profiles_file_is_moved_aside_not_overwritten(qtbot, settings):
    from eventscope.core.profiles.store import default_profiles_path

    path = default_profiles_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{broken")
    window = MainWindow(AppContext(settings))
    qtbot.addWidget(window)
    try:
        assert "not valid JSON" in window.status_bar.currentMessage() and "moved to" in window.status_bar.currentMessage()
        aside = list(path.parent.glob("profiles.json.unreadable-*"))
        assert len(aside) == 1 and aside[0].read_text() == "{broken"
    finally:
        window.close()


def test_read_only_profile_cannot_publish(window, mosquitto, qtbot):
    from eventscope.core.mqtt.session import ReadOnlyError

    session = window.connect_to(ConnectionProfile(host="127.0.0.1", port=mosquitto.port, read_only=True))
    assert session.wait_connected(10)
    assert "(read-only)" in window.windowTitle()
    with pytest.raises(ReadOnlyError):
        session.publish("a/b", b"x")


def test_broker_restart_shows_reconnecting_then_connected(window, mosquitto, qtbot):
    session = window.connect_to(ConnectionProfile(host="127.0.0.1", port=mosquitto.port))
    qtbot.waitUntil(lambda: _state(window) == "Connected", timeout=10000)
    mosquitto.stop(kill=True)
    qtbot.waitUntil(lambda: "retrying (attempt" in _state(window), timeout=10000)
    mosquitto.start()
    qtbot.waitUntil(lambda: _state(window) == "Connected", timeout=30000)
    assert session.subscriptions == {"#": 0}


def test_tls_files_from_the_profile_form_reach_the_session(window, mosquitto_factory, qtbot, tmp_path):
    import subprocess

    key, cert = tmp_path / "ca.key", tmp_path / "ca.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    broker = mosquitto_factory(f"allow_anonymous true\ncertfile {cert}\nkeyfile {key}\n")
    qtbot.keyClick(window, Qt.Key_N, Qt.ControlModifier | Qt.ShiftModifier)
    dialog = window.add_broker_dialog
    form = dialog.form
    form.address_edit.setText(f"127.0.0.1:{broker.port}")
    form.tls_check.setChecked(True)
    form.tabs.setCurrentIndex(1)
    form.ca_edit.setText(str(cert))
    form.keepalive_spin.setValue(45)
    form.client_id_edit.setText("eventscope-tls-test")
    assert not form.tls_warning.isVisibleTo(form)  # verification stays on
    qtbot.mouseClick(dialog.connect_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: _state(window) == "Connected", timeout=10000)
    profile = window.context.profile
    assert (profile.tls.ca_file, profile.keepalive, profile.client_id) == (str(cert), 45, "eventscope-tls-test")
    assert profile.address.startswith("mqtts://")


def test_last_will_from_the_form_is_published_when_the_connection_drops(window, mosquitto, qtbot, qloop):
    from eventscope.core.mqtt.session import MqttSession
    from tests.gui.conftest import run_until

    qtbot.keyClick(window, Qt.Key_N, Qt.ControlModifier | Qt.ShiftModifier)
    form = window.add_broker_dialog.form
    form.address_edit.setText(f"127.0.0.1:{mosquitto.port}")
    form.read_only_check.setChecked(True)
    form.tabs.setCurrentIndex(form.tabs.count() - 2)  # the Last Will tab
    form.will_topic_edit.setText("monitors/eventscope/status")
    qtbot.mouseClick(window.add_broker_dialog.connect_button, Qt.LeftButton)
    assert "cannot have a Last Will" in window.add_broker_dialog.error_label.text()  # read-only never publishes
    form.read_only_check.setChecked(False)
    form.will_payload_edit.setText("offline")
    form.will_qos_combo.setCurrentIndex(1)
    profile = form.stored_profile().connection
    window.add_broker_dialog.close()
    assert (profile.will_topic, profile.will_payload, profile.will_qos) == ("monitors/eventscope/status", "offline", 1)

    watcher = MqttSession(ConnectionProfile(name="watcher", host="127.0.0.1", port=mosquitto.port))
    watcher.start()
    try:
        assert watcher.wait_connected(10)
        watcher.subscribe("monitors/#", qos=1).result(10)  # subscribed before the will can fire
        session = MqttSession(profile)  # the profile's session, dropped without a DISCONNECT below
        session.start()
        assert session.wait_connected(10)
        session._client.socket().close()  # a network failure, as the broker sees it
        seen = []
        run_until(qloop, lambda: seen.extend(watcher.buffer.drain()) or bool(seen), timeout=30, message="the will")
        assert [(r.topic, r.payload) for r in seen] == [("monitors/eventscope/status", b"offline")]
        session.stop()
    finally:
        watcher.stop()


def test_an_unreachable_broker_added_says_why_in_its_row_at_once_and_the_current_one_stays(window, qloop, mosquitto):
    import time

    from eventscope.core.profiles.store import StoredProfile

    window.resize(1024, 700)
    window.show()
    window.add_broker(ConnectionProfile(name="east", host="127.0.0.1", port=mosquitto.port))
    context = window.context
    run_until(qloop, lambda: context.session is not None and context.session.is_connected, message="east connected")
    added = time.monotonic()
    assert window._open_from_dialog(StoredProfile(ConnectionProfile(name="dead", host="127.0.0.1", port=1)),
                                    None, False) is None  # as the Add broker dialog does
    model = window.brokers_panel.model
    state = model.index(model.row_of("dead"), STATE)
    # Both read at one moment: the next attempt, a fraction of a second later, shows "Connecting" in both.
    run_until(qloop, lambda: str(state.data()).startswith("Connection refused by 127.0.0.1:1")
              and "Connection refused" in str(state.data(Qt.ItemDataRole.ToolTipRole)), 5,
              message="the reason first in the row, and in its tooltip")
    assert time.monotonic() - added < 1.0
    assert context.connection.broker_id == "east"
    assert window.request_panel.composer.broker_combo.currentText() == "east"


def test_the_application_hands_the_interpreter_lock_to_the_window_within_a_millisecond(qapp):
    """The window's thread waits for the interpreter lock after every Qt call that releases it, while the
    workspace's tick runs; Python's 5 ms default made a 9 ms frame take 95 ms under load."""
    from eventscope.gui.app import INTERPRETER_SWITCH_INTERVAL, create_application

    before = sys.getswitchinterval(), qapp.organizationName(), qapp.applicationName()
    sys.setswitchinterval(0.005)
    try:
        assert create_application() is qapp  # the running application, set up again
        assert sys.getswitchinterval() == pytest.approx(INTERPRETER_SWITCH_INTERVAL) and INTERPRETER_SWITCH_INTERVAL <= 0.001
    finally:  # as the other tests know the process
        sys.setswitchinterval(before[0])
        qapp.setOrganizationName(before[1])
        qapp.setApplicationName(before[2])


@pytest.mark.skipif(not sys.platform.startswith("linux") or not hasattr(ctypes.CDLL(None), "mallinfo2"),
                    reason="glibc's malloc only")
def test_the_application_keeps_large_blocks_outside_the_heap_after_one_is_freed():
    """Over a long run of topic churn the heap crept 7 % once a freed large table raised glibc's threshold."""
    from tests.core.test_allocator import mapped_mib_after_a_large_free

    setup = "from eventscope.gui.app import create_application; create_application(['probe'])"
    assert mapped_mib_after_a_large_free(setup) >= 2
