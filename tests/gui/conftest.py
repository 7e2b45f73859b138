"""GUI test fixtures: offscreen Qt, isolated settings, and a qasync loop (pytest-qt has none, pytest-qt#448)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import asyncio  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402
import qasync  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

from eventscope.core.profile import ConnectionProfile  # noqa: E402
from eventscope.gui.context import AppContext  # noqa: E402

_CLOSED_LOOPS: list = []


@pytest.fixture
def settings(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "eventscope.ini"), QSettings.IniFormat)


@pytest.fixture
def context(qapp, settings, qloop):
    # Depends on qloop so that sessions stop before the loop closes: a late reply must not
    # reach a closed qasync loop from paho's thread.
    ctx = AppContext(settings)
    yield ctx
    ctx.shutdown()


@pytest.fixture
def qloop(qapp):
    """A qasync event loop over the test's QApplication, set as the current asyncio loop.

    Modelled on qasync's own tests: the loop runs only inside ``run_until`` calls, which is
    when async slots make progress.
    """
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    yield loop
    try:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    finally:
        loop.close()
        asyncio.set_event_loop(None)
        # Keep the closed loop (and its QObjects) alive for the whole run: if a paho thread
        # dropped the last reference, the loop's timer object would be destroyed on that
        # thread and leave a dangling timer in the GUI thread's dispatcher.
        _CLOSED_LOOPS.append(loop)


def run_until(loop, predicate, timeout: float = 10.0, message: str = "condition") -> None:
    """Run the qasync loop (and so Qt's) until ``predicate()`` is true, or fail after ``timeout``."""

    async def poll() -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            await asyncio.sleep(0.01)
        return bool(predicate())

    if not loop.run_until_complete(poll()):
        raise AssertionError(f"timed out after {timeout}s waiting for {message}")


@pytest.fixture
def window(qtbot, context):
    """The real main window on the test's context, shown, closed at teardown."""
    from eventscope.gui.main_window import MainWindow

    win = MainWindow(context)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


@pytest.fixture
def connected_context(context, mosquitto):
    """An AppContext with a live connection on the test's Mosquitto, subscribed to '#', bridge running."""
    connect_and_wait(context, ConnectionProfile(name="test", host="127.0.0.1", port=mosquitto.port))
    context.bridge.start()
    return context


def connect_and_wait(context, profile, subscriptions=("#",)):
    """Connect ``context`` through its workspace and wait for the connection and every SUBACK."""
    session = context.connect_broker(profile, subscriptions=()).session
    assert session.wait_connected(10), session.status
    for topic_filter in subscriptions:
        session.subscribe(topic_filter).result(10)  # nothing a test publishes next can be missed
    return session


def add_through_dialog(qtbot, window, address: str, name: str = "", read_only: bool = False, username: str = "",
                       password: str = "", save: bool = True):
    """Add a broker as a user does: Ctrl+Shift+N, type the address (and more), press Connect. Returns the dialog."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    activate(qtbot, window)
    qtbot.keyClick(window, Qt.Key_N, Qt.ControlModifier | Qt.ShiftModifier)
    dialog = window.add_broker_dialog
    assert dialog.isVisible()
    QApplication.processEvents()
    form = dialog.form
    form.address_edit.clear()
    qtbot.keyClicks(form.address_edit, address)
    if name:
        qtbot.keyClicks(form.name_edit, name)
    form.read_only_check.setChecked(read_only)
    if username:
        qtbot.keyClicks(form.username_edit, username)
    if password:
        qtbot.keyClicks(form.password_edit, password)
    dialog.save_check.setChecked(save)
    qtbot.mouseClick(dialog.connect_button, Qt.LeftButton)
    return dialog


def activate(qtbot, window) -> None:
    """Give ``window`` the focus back (offscreen, a closed dialog leaves no active window), for window shortcuts."""
    from PySide6.QtWidgets import QApplication

    if not window.isVisible():
        window.show()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
