"""The window opens offscreen, shows connection state, and keeps its layout and settings."""

import pytest
from PySide6.QtCore import QSettings, Qt

from core.profile import ConnectionProfile, TlsSettings
from gui.context import AppContext
from gui.main_window import MainWindow
from tests.conftest import free_port

MAIN_WIDGETS = ("connectionBar", "requestPanel", "topicTree", "streamView", "auditFeed", "statusBar")



def test_every_main_widget_has_a_stable_object_name_and_accessible_name(window):
    for name in MAIN_WIDGETS:
        widget = window.findChild(object, name)
        assert widget is not None, name
        assert widget.accessibleName(), name


def test_connect_shows_connected_state(window, mosquitto, qtbot):
    window.connection_bar.address.setCurrentText(f"127.0.0.1:{mosquitto.port}")
    qtbot.mouseClick(window.connection_bar.connect_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.connection_bar.state_label.text() == "Connected: mqtt://127.0.0.1:%d" % mosquitto.port, timeout=10000)
    assert window.connection_bar.connect_button.text() == "Disconnect"
    assert window.status_bar.state_label.text().startswith("Connected")
    qtbot.mouseClick(window.connection_bar.connect_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.connection_bar.connect_button.text() == "Connect", timeout=5000)
    assert window.context.session is None


def test_unreachable_broker_shows_reconnect_attempts(window, qtbot):
    window.connection_bar.address.setCurrentText(f"127.0.0.1:{free_port()}")
    qtbot.mouseClick(window.connection_bar.connect_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: "Reconnecting (attempt" in window.connection_bar.state_label.text(), timeout=10000)
    assert "refused" in window.connection_bar.state_label.text()


def test_bad_address_is_explained_without_connecting(window, qtbot):
    window.connection_bar.address.setCurrentText("ftp://nowhere")
    qtbot.mouseClick(window.connection_bar.connect_button, Qt.LeftButton)
    assert "Unknown scheme" in window.connection_bar.error_label.text()
    assert window.context.session is None


def test_tls_verification_off_is_shown(window, qtbot):
    bar = window.connection_bar
    assert not bar.tls_warning.isVisible()
    bar.tls.setChecked(True)
    bar.verify.setChecked(False)
    assert bar.tls_warning.isVisible()
    assert "OFF" in bar.tls_warning.text()
    assert bar.profile().tls == TlsSettings(enabled=True, verify=False)


def test_password_is_never_written_to_settings(window, mosquitto, qtbot, settings):
    bar = window.connection_bar
    bar.address.setCurrentText(f"127.0.0.1:{mosquitto.port}")
    bar.username.setText("alice")
    bar.password.setText("hunter2-secret")
    qtbot.mouseClick(bar.connect_button, Qt.LeftButton)
    window.save_layout()
    settings.sync()
    with open(settings.fileName(), encoding="utf-8") as fh:
        text = fh.read()
    assert "alice" in text  # the username is remembered
    assert "hunter2-secret" not in text


def test_settings_and_layout_persist_across_windows(qtbot, settings, mosquitto):
    first = MainWindow(AppContext(settings))
    qtbot.addWidget(first)
    first.resize(900, 600)
    first.connection_bar.address.setCurrentText(f"127.0.0.1:{mosquitto.port}")
    first.connection_bar.read_only.setChecked(True)
    qtbot.mouseClick(first.connection_bar.connect_button, Qt.LeftButton)
    first.close()
    saved_size = first.size()
    second = MainWindow(AppContext(QSettings(settings.fileName(), QSettings.IniFormat)))
    qtbot.addWidget(second)
    assert second.connection_bar.address.currentText() == f"127.0.0.1:{mosquitto.port}"
    assert second.connection_bar.read_only.isChecked()
    assert saved_size.width() != 1400  # not the default size
    assert abs(second.size().width() - saved_size.width()) <= 120  # offscreen frames differ by the decoration
    second.close()


def test_read_only_profile_cannot_publish(window, mosquitto, qtbot):
    from core.session import ReadOnlyError

    session = window.connect_to(ConnectionProfile(host="127.0.0.1", port=mosquitto.port, read_only=True))
    assert session.wait_connected(10)
    assert "(read-only)" in window.windowTitle()
    with pytest.raises(ReadOnlyError):
        session.publish("a/b", b"x")


def test_broker_restart_shows_reconnecting_then_connected(window, mosquitto, qtbot):
    session = window.connect_to(ConnectionProfile(host="127.0.0.1", port=mosquitto.port))
    label = window.connection_bar.state_label
    qtbot.waitUntil(lambda: label.text().startswith("Connected"), timeout=10000)
    mosquitto.stop(kill=True)
    qtbot.waitUntil(lambda: label.text().startswith("Reconnecting (attempt"), timeout=10000)
    mosquitto.start()
    qtbot.waitUntil(lambda: label.text().startswith("Connected"), timeout=30000)
    assert session.subscriptions == {"#": 0}


def test_tls_files_from_the_settings_dialog_reach_the_session(window, mosquitto_factory, qtbot, tmp_path):
    import subprocess

    key, cert = tmp_path / "ca.key", tmp_path / "ca.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    broker = mosquitto_factory(f"allow_anonymous true\ncertfile {cert}\nkeyfile {key}\n")
    bar = window.connection_bar
    dialog = bar.open_settings()
    qtbot.addWidget(dialog)
    dialog.ca_file.setText(str(cert))
    dialog.keepalive.setValue(45)
    dialog.accept()
    bar.address.setCurrentText(f"127.0.0.1:{broker.port}")
    bar.tls.setChecked(True)
    assert not bar.tls_warning.isVisible()  # verification stays on
    qtbot.mouseClick(bar.connect_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: bar.state_label.text().startswith("Connected"), timeout=10000)
    assert window.context.profile.tls.ca_file == str(cert)
    assert window.context.profile.keepalive == 45
    assert window.context.profile.address.startswith("mqtts://")
