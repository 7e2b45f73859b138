"""A broker that sends faster than the window reads, or than its audit writes: its row and the status bar say
what falls behind, and how far, until it catches up; nothing is lost meanwhile."""

from __future__ import annotations

import os
import sqlite3

from eventscope.core.connections.remote import RemoteConnector
from eventscope.core.profile import ConnectionProfile
from eventscope.core.workspace.workspace import Workspace
from eventscope.gui.context import AppContext
from eventscope.gui.main_window import MainWindow
from eventscope.gui.models.broker_table_model import NOTES
from eventscope.gui.models.roles import TOOLTIP
from tests.conftest import publish_raw
from tests.gui.conftest import run_until
from tests.helpers.stalled_reader_child import (
    STALL_PIPE_VARIABLE,
    held_writer_child_main,
    release,
    stalled_reader_child_main,
)

MESSAGES = 400  # of 1 KiB: more than a socket holds unread
AUDITED = 500


def _row_and_status_bar_say(qloop, window, said: str, why: str):
    """Wait until broker east's row and the status bar say ``said``; the row's tooltip tells ``why``."""
    notes = window.brokers_panel.model.index(0, NOTES)
    run_until(qloop, lambda: said in (notes.data() or ""), timeout=20, message=f"the broker's row says {said!r}")
    assert why in notes.data(TOOLTIP)
    buffered = window.status_bar.buffered_label
    run_until(qloop, lambda: f"east {said}" in buffered.text(), timeout=5, message="the status bar says whose")
    assert "east:" in buffered.toolTip()
    return notes, buffered


def _window_held_by(pipe, child, qtbot, settings, monkeypatch) -> tuple[AppContext, MainWindow]:
    """A window at 1024x700 whose connection process (``child``) stops where it does until ``pipe`` is opened."""
    os.mkfifo(pipe)
    monkeypatch.setenv(STALL_PIPE_VARIABLE, str(pipe))
    context = AppContext(settings, workspace=Workspace(connector=RemoteConnector(child=child)))
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.resize(1024, 700)
    window.show()
    return context, window


def test_a_broker_whose_messages_wait_unread_shows_falling_behind_until_it_catches_up(
        qapp, qloop, qtbot, settings, mosquitto, tmp_path, monkeypatch):
    stall = tmp_path / "stall"
    context, window = _window_held_by(stall, stalled_reader_child_main, qtbot, settings, monkeypatch)
    try:
        window.add_broker(ConnectionProfile(name="east", host="127.0.0.1", port=mosquitto.port))
        run_until(qloop, lambda: context.session is not None and context.session.is_connected, timeout=15,
                  message="connected")
        publish_raw(mosquitto.port, [(f"load/{i}", bytes(1024)) for i in range(MESSAGES)])
        notes, buffered = _row_and_status_bar_say(qloop, window, "falling behind", "unread in the connection's socket")

        assert release(stall)  # the reader keeps up again
        run_until(qloop, lambda: "falling behind" not in (notes.data() or ""), timeout=15,
                  message="the row takes it back once caught up")
        run_until(qloop, lambda: "falling behind" not in buffered.text(), timeout=5, message="and the status bar")
        tree = context.workspace.tree
        run_until(qloop, lambda: sum(1 for i in range(MESSAGES) if tree.node(f"load/{i}") is not None) == MESSAGES,
                  message="every message in the tree")
        assert window.status_bar.dropped_label.text() == "dropped 0"
    finally:
        release(stall)
        context.shutdown()


def test_an_audit_that_writes_slower_than_its_broker_sends_shows_falling_behind_until_every_message_is_stored(
        qapp, qloop, qtbot, settings, mosquitto, tmp_path, monkeypatch):
    hold = tmp_path / "hold"
    context, window = _window_held_by(hold, held_writer_child_main, qtbot, settings, monkeypatch)
    try:
        window.add_broker(ConnectionProfile(name="east", host="127.0.0.1", port=mosquitto.port),
                          audit_filters=("audited/#",))
        run_until(qloop, lambda: (connection := context.workspace.broker("east")) is not None
                  and connection.recorder is not None, timeout=15, message="recording")
        assert context.workspace.broker("east").recorder.wait_ready(10)
        publish_raw(mosquitto.port, [(f"audited/{i % 10}", str(i).encode()) for i in range(AUDITED)])
        notes, buffered = _row_and_status_bar_say(qloop, window, "audit falling behind", "messages wait to be written")

        assert release(hold)  # the writer keeps up again
        run_until(qloop, lambda: "falling behind" not in (notes.data() or ""), timeout=20,
                  message="the row takes it back once caught up")
        run_until(qloop, lambda: "falling behind" not in buffered.text(), timeout=5, message="and the status bar")
        database = context.workspace.broker("east").audit_path

        def stored() -> int:
            with sqlite3.connect(database) as conn:
                return conn.execute("SELECT COUNT(*) FROM messages WHERE topic LIKE 'audited/%'").fetchone()[0]

        run_until(qloop, lambda: stored() == AUDITED, timeout=30, message="every audited message stored")
    finally:
        release(hold)
        context.shutdown()
