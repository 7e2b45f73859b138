"""The profile manager: create, test, export without secrets, duplicate, delete, and open beside the others."""

from __future__ import annotations

import json

import keyring
import pytest
from PySide6.QtCore import Qt

from eventscope.core.profiles.store import ProfileStore
from tests.conftest import free_port, publish_raw
from tests.gui.conftest import run_until
from tests.helpers.memory_keyring import MemoryKeyring

SECRET = "Pa55-in-keychain"


@pytest.fixture
def memory_keyring():
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    yield
    keyring.set_keyring(previous)



def _fill(qtbot, dialog, name: str, port: int, username: str = "", password: str = "") -> None:
    qtbot.mouseClick(dialog.buttons["new"], Qt.LeftButton)
    qtbot.keyClicks(dialog.form.name_edit, name)
    dialog.form.address_edit.setText(f"127.0.0.1:{port}")
    qtbot.keyClicks(dialog.form.username_edit, username)
    qtbot.keyClicks(dialog.form.password_edit, password)
    dialog.form.region_edit.setText("us-east")


def test_create_test_export_and_open_a_profile(window, qloop, qtbot, mosquitto, memory_keyring, tmp_path):
    dialog = window.open_profile_manager()
    _fill(qtbot, dialog, "east", mosquitto.port, "alice", SECRET)
    dialog.form.filters_edit.setText("+/hello/request, factory/#")
    qtbot.mouseClick(dialog.buttons["save"], Qt.LeftButton)
    assert dialog.result_label.text() == "Saved east (password in the OS keychain)"
    store = ProfileStore.load()
    assert store.get("east").region == "us-east" and store.password("east") == SECRET
    assert SECRET not in store.path.read_text()

    qtbot.mouseClick(dialog.buttons["test"], Qt.LeftButton)
    run_until(qloop, lambda: dialog.result_label.text().startswith(("Connected in", "Failed")), message="a test result")
    result = dialog.result_label.text()
    assert result.startswith("Connected in") and "MQTT 5" in result
    assert "CONNACK:" in result and "SessionPresent: False" in result and "TopicAliasMaximum: " in result  # Mosquitto's

    dialog.form.address_edit.setText(f"127.0.0.1:{free_port()}")  # nothing listens there
    qtbot.mouseClick(dialog.buttons["test"], Qt.LeftButton)
    run_until(qloop, lambda: dialog.result_label.text().startswith(("Connected in", "Failed", "No answer")),
              message="the refused test")
    assert dialog.result_label.text().startswith("Failed after") and "refused" in dialog.result_label.text().lower()
    dialog.form.address_edit.setText(f"127.0.0.1:{mosquitto.port}")

    exported = tmp_path / "profiles.json"
    assert dialog.export_to(exported) == 1
    assert SECRET not in exported.read_text() and json.loads(exported.read_text())["profiles"][0]["region"] == "us-east"

    qtbot.mouseClick(dialog.buttons["open"], Qt.LeftButton)
    workspace = window.context.workspace
    run_until(qloop, lambda: workspace.broker("east") is not None and workspace.broker("east").session.is_connected,
              message="east open in the window")
    # The profile's audit filters and region come with it.
    recorder = workspace.broker("east").recorder
    assert recorder.wait_ready(10) and recorder.filters == ("+/hello/request", "factory/#")
    publish_raw(mosquitto.port, [("factory/line1", b"on")])
    model = window.topic_tree.model
    run_until(qloop, lambda: model.rowCount() == 1, message="east's root in the tree")
    assert model.index(0, 0).data() == "east · us-east"
    dialog.close()


def test_duplicate_delete_import_and_bad_input(window, qtbot, memory_keyring, tmp_path):
    dialog = window.open_profile_manager()
    _fill(qtbot, dialog, "west", 1884)
    qtbot.mouseClick(dialog.buttons["save"], Qt.LeftButton)
    qtbot.mouseClick(dialog.buttons["duplicate"], Qt.LeftButton)
    assert ProfileStore.load().names() == ["west", "west copy"]
    assert dialog.selected_name() == "west copy"
    qtbot.mouseClick(dialog.buttons["delete"], Qt.LeftButton)
    assert ProfileStore.load().names() == ["west"]
    dialog.form.address_edit.setText("ftp://nowhere")
    qtbot.mouseClick(dialog.buttons["save"], Qt.LeftButton)
    assert dialog.result_label.text().startswith("Not saved: Unknown scheme 'ftp'")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert dialog.import_from(broken) == [] and "not valid JSON" in dialog.result_label.text()
    dialog.close()


def test_editing_a_profile_keeps_what_the_form_does_not_show(window, qtbot, memory_keyring):
    from eventscope.core.decoding.rules import DecoderRule
    from eventscope.core.profile import ConnectionProfile
    from eventscope.core.profiles.store import StoredProfile

    rules = (DecoderRule.parse("spBv1.0/#=sparkplug"),)
    store = ProfileStore.load()
    store.put(StoredProfile(ConnectionProfile(name="plant", port=1884), decoder_rules=rules, proto_paths=("/protos",)))
    dialog = window.open_profile_manager()
    dialog.list.setCurrentRow(0)
    dialog.form.region_edit.setText("eu-central")
    qtbot.mouseClick(dialog.buttons["save"], Qt.LeftButton)
    saved = ProfileStore.load().get("plant")
    assert saved.region == "eu-central" and saved.decoder_rules == rules and saved.proto_paths == ("/protos",)
    dialog.close()


def test_decoder_rules_are_typed_in_the_profile_and_bad_ones_explained(window, qtbot, memory_keyring, tmp_path):
    dialog = window.open_profile_manager()
    _fill(qtbot, dialog, "factory", 1883)
    form = dialog.form
    form.rules_edit.setPlainText("factory/+/telemetry=protobuf:acme.Telemetry\nbad rule")
    qtbot.mouseClick(dialog.buttons["save"], Qt.LeftButton)
    assert dialog.result_label.text().startswith("Not saved: Decoder rule 2 ('bad rule')")
    form.rules_edit.setPlainText("a/#/b=json")
    qtbot.mouseClick(dialog.buttons["save"], Qt.LeftButton)
    assert "Decoder rule 1" in dialog.result_label.text() and "'#'" in dialog.result_label.text()
    form.rules_edit.setPlainText("x/#=yaml")
    qtbot.mouseClick(dialog.buttons["save"], Qt.LeftButton)
    assert "unknown decoder 'yaml'" in dialog.result_label.text()
    form.rules_edit.setPlainText("factory/+/telemetry=protobuf:acme.Telemetry\n\nspBv1.0/#=sparkplug")
    form.proto_paths_edit.setText(f"{tmp_path}; /opt/protos")
    qtbot.mouseClick(dialog.buttons["save"], Qt.LeftButton)
    saved = ProfileStore.load().get("factory")
    assert [(r.topic_filter, r.decoder, r.message_type) for r in saved.decoder_rules] == [
        ("factory/+/telemetry", "protobuf", "acme.Telemetry"), ("spBv1.0/#", "sparkplug", "")]
    assert saved.proto_paths == (str(tmp_path), "/opt/protos")
    dialog.close()


def test_an_empty_manager_says_what_to_do_tests_without_a_name_and_closes(window, qloop, qtbot, mosquitto,
                                                                          memory_keyring):
    from PySide6.QtWidgets import QDialogButtonBox

    dialog = window.open_profile_manager()
    assert dialog.empty_hint.isVisible() and "No saved profiles yet" in dialog.empty_hint.text()
    dialog.form.address_edit.setText(f"127.0.0.1:{mosquitto.port}")  # no name: it is host:port
    qtbot.mouseClick(dialog.buttons["test"], Qt.LeftButton)
    run_until(qloop, lambda: dialog.result_label.text().startswith(("Connected in", "Failed", "No answer", "Not")),
              message="a test result")
    assert dialog.result_label.text().startswith("Connected in")
    qtbot.mouseClick(dialog.buttons["save"], Qt.LeftButton)
    assert ProfileStore.load().names() == [f"127.0.0.1:{mosquitto.port}"] and not dialog.empty_hint.isVisible()
    close = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Close)
    qtbot.mouseClick(close, Qt.LeftButton)
    assert not dialog.isVisible()
