"""A broker that sends faster than the window reads: its row and the status bar say it falls behind, and how
far, until it catches up; nothing is lost meanwhile."""

from __future__ import annotations

import os

from eventscope.core.connections.remote import RemoteConnector
from eventscope.core.profile import ConnectionProfile
from eventscope.core.workspace.workspace import Workspace
from eventscope.gui.context import AppContext
from eventscope.gui.main_window import MainWindow
from eventscope.gui.models.broker_table_model import NOTES
from eventscope.gui.models.roles import TOOLTIP
from tests.conftest import publish_raw
from tests.gui.conftest import run_until
from tests.helpers.stalled_reader_child import STALL_PIPE_VARIABLE, release, stalled_reader_child_main

MESSAGES = 400  # of 1 KiB: more than a socket holds unread


def test_a_broker_whose_messages_wait_unread_shows_falling_behind_until_it_catches_up(
        qapp, qloop, qtbot, settings, mosquitto, tmp_path, monkeypatch):
    stall = tmp_path / "stall"
    os.mkfifo(stall)
    monkeypatch.setenv(STALL_PIPE_VARIABLE, str(stall))
    context = AppContext(settings, workspace=Workspace(connector=RemoteConnector(child=stalled_reader_child_main)))
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.resize(1024, 700)
    window.show()
    try:
        window.add_broker(ConnectionProfile(name="east", host="127.0.0.1", port=mosquitto.port))
        run_until(qloop, lambda: context.session is not None and context.session.is_connected, timeout=15,
                  message="connected")
        notes = window.brokers_panel.model.index(0, NOTES)
        publish_raw(mosquitto.port, [(f"load/{i}", bytes(1024)) for i in range(MESSAGES)])
        run_until(qloop, lambda: "falling behind" in (notes.data() or ""), timeout=15,
                  message="the broker's row says it falls behind")
        assert "unread in the connection's socket" in notes.data(TOOLTIP)
        buffered = window.status_bar.buffered_label
        run_until(qloop, lambda: "east falling behind" in buffered.text(), timeout=5,
                  message="the status bar says which broker falls behind")
        assert "east:" in buffered.toolTip()

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
