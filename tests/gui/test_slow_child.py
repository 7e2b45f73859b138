"""The window never waits for the connection process: with a child that answers every command 2 s
late, opening a broker, starting the audit and disconnecting leave the GUI thread drawing."""

from __future__ import annotations

import time

from eventscope.core.connections.remote import RemoteConnector
from eventscope.core.profile import ConnectionProfile
from eventscope.core.workspace.workspace import Workspace
from eventscope.gui.context import AppContext
from eventscope.gui.main_window import MainWindow
from tests.gui.conftest import run_until
from tests.helpers.slow_child import REPLY_DELAY, slow_child_main
from tests.helpers.stall_probe import StallProbe

PROBE_MS = 10


def test_a_slow_connection_process_never_stalls_the_window(qapp, qloop, qtbot, settings, mosquitto):
    context = AppContext(settings, workspace=Workspace(connector=RemoteConnector(child=slow_child_main)))
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.resize(1024, 700)
    window.show()
    probe = StallProbe(PROBE_MS)
    probe.start()
    try:
        started = time.monotonic()
        window.add_broker(ConnectionProfile(name="east", host="127.0.0.1", port=mosquitto.port))
        window.context.set_audit()  # the audit feed's recording, answered late too
        assert time.monotonic() - started < REPLY_DELAY / 2  # returned before the child answered
        run_until(qloop, lambda: context.connection is not None and context.connection.recorder is not None,
                  timeout=15, message="the late answers")
        run_until(qloop, lambda: context.session.is_connected, timeout=15, message="connected")
        started = time.monotonic()
        context.disconnect("east")
        assert time.monotonic() - started < REPLY_DELAY / 2
        run_until(qloop, lambda: context.workspace.broker("east") is None and not context.workspace._closing,
                  timeout=15, message="the late close")
    finally:
        probe.stop()
        context.shutdown()
    worst = probe.worst
    print(f"GUI probe: {len(probe.late)} samples, max lateness {worst * 1000:.0f} ms")
    # A GUI thread that waited on the child would show a stall of at least REPLY_DELAY here.
    assert worst < REPLY_DELAY / 4, f"the window stalled {worst * 1000:.0f} ms"


def test_the_window_closes_at_once_and_the_connection_process_finishes_after_it(qapp, qloop, qtbot, settings,
                                                                                mosquitto):
    context = AppContext(settings, workspace=Workspace(connector=RemoteConnector(child=slow_child_main)))
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.show()
    window.add_broker(ConnectionProfile(name="east", host="127.0.0.1", port=mosquitto.port))
    run_until(qloop, lambda: context.session is not None and context.session.is_connected, timeout=15,
              message="connected")
    connector = context.workspace._connector
    (child,) = [process._process for process in connector._processes.values()]
    started = time.monotonic()
    window.close()
    assert time.monotonic() - started < REPLY_DELAY / 2  # gone before the child answered its shutdown
    assert not window.isVisible() and window.closing is not None and not window.closing.done()
    window.closing.result(30)  # the child's final answers came, and it ended
    assert not child.is_alive()
    context.shutdown()  # waits for the same close, and does not close twice
