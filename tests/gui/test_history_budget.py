"""The history budget in the window: set from View → History budget…, applied at once, saved for the next start,
and the tree's footer says how much of it is in use and, once it is full, how many messages a topic keeps."""

from __future__ import annotations

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QInputDialog

from eventscope.core.profile import ConnectionProfile
from eventscope.gui.context import DEFAULT_HISTORY_BUDGET_MIB, MIB, AppContext
from tests.conftest import publish_raw
from tests.gui.conftest import run_until


def _answer_budget_dialog(mib: int, seen: list[str]) -> None:
    """Fill in the modal History budget dialog once it is open, as a user would, and press OK."""
    dialog = QApplication.activeModalWidget()
    if not isinstance(dialog, QInputDialog):
        QTimer.singleShot(20, lambda: _answer_budget_dialog(mib, seen))
        return
    seen.append(f"{dialog.windowTitle()}|{dialog.labelText()}|{dialog.intValue()}|{dialog.intMinimum()}")
    dialog.setIntValue(mib)
    dialog.accept()


def test_the_history_budget_is_set_from_the_view_menu_shows_its_use_and_is_kept(window, qloop, mosquitto, settings):
    context = window.context
    window.add_broker(ConnectionProfile(name="east", host="127.0.0.1", port=mosquitto.port))
    run_until(qloop, lambda: context.session is not None and context.session.is_connected, message="connected")
    label = window.topic_tree.history_label
    publish_raw(mosquitto.port, [(f"plant/line-{i % 20}", b"x" * 1024) for i in range(200)])
    run_until(qloop, lambda: label.isVisible() and label.text() == f"History 0.2 of {DEFAULT_HISTORY_BUDGET_MIB} MiB",
              message=f"the history in use under the tree (is {label.text()!r})")
    assert "up to 100 messages per topic" in label.toolTip() and "View → History budget…" in label.toolTip()

    seen: list[str] = []
    QTimer.singleShot(0, lambda: _answer_budget_dialog(16, seen))
    window.history_budget_action.trigger()  # the menu's dialog, answered above
    assert seen == [f"History budget|Message history kept per broker, in MiB (past it, every topic keeps fewer):|"
                    f"{DEFAULT_HISTORY_BUDGET_MIB}|16"]
    assert context.history_budget_mib == 16 and settings.value("tree/historyBudgetMiB") in (16, "16")
    # 20 topics x 100 messages of 10 KiB are 20 MiB: past the budget, every topic keeps fewer.
    publish_raw(mosquitto.port, [(f"plant/line-{i % 20}", b"y" * 10 * 1024) for i in range(2_000)])
    tree = context.workspace.tree
    run_until(qloop, lambda: tree.trees["east"].effective_history_count < 100, timeout=20, message="shorter histories")
    kept = tree.trees["east"].effective_history_count
    run_until(qloop, lambda: label.text().endswith(f"of 16 MiB, {kept} per topic"),
              message=f"the footer says how many a topic keeps (is {label.text()!r})")
    assert tree.trees["east"].history_used <= 16 * MIB
    assert len(tree.node("plant/line-3", "east").history) == kept
    assert window.statusBar().currentMessage() == "The tree keeps at most 16 MiB of message history per broker"


def test_the_history_budget_is_kept_for_the_next_start(qtbot, settings):
    first = AppContext(settings)
    first.set_history_budget(100_000)  # past the largest: clamped
    assert first.history_budget_mib == 16 * 1024
    first.set_history_budget(96)
    first.shutdown()
    again = AppContext(QSettings(settings.fileName(), QSettings.Format.IniFormat))
    try:
        assert again.history_budget_mib == 96
        again.workspace.tick_now()
        assert again.workspace.tree.history_budget == 96 * MIB
    finally:
        again.shutdown()
