"""The topic budget in the window: set from View → Topic budget, saved for the next start, and once the tree
evicts, it says so under the tree and each parent row says how many topics are not shown."""

from __future__ import annotations

from PySide6.QtCore import QSettings

from eventscope.core.profile import ConnectionProfile
from eventscope.gui.context import AppContext
from eventscope.gui.main_window import MainWindow
from eventscope.gui.models.topic_tree_model import COL_VALUE, FETCH_BATCH
from tests.conftest import publish_raw
from tests.gui.conftest import run_until


def test_a_full_tree_evicts_the_oldest_topics_and_says_so(window, qloop, mosquitto, settings):
    context = window.context
    window.add_broker(ConnectionProfile(name="east", host="127.0.0.1", port=mosquitto.port))
    run_until(qloop, lambda: context.session is not None and context.session.is_connected, message="connected")
    context.set_topic_budget(1_000)  # the smallest the window allows
    assert settings.value("tree/topicBudget") in (1000, "1000")
    tree = context.workspace.tree
    publish_raw(mosquitto.port, [(f"churn/device-{i:04d}", b"1") for i in range(1_200)])
    run_until(qloop, lambda: tree.evicted_total > 0, timeout=20, message="eviction")
    run_until(qloop, lambda: tree.node("churn/device-1199") is not None, timeout=20, message="the newest topic")
    view = window.topic_tree
    assert len(tree) <= 1_000 and tree.node("churn/device-0000") is None  # the oldest went
    run_until(qloop, lambda: not view.budget_label.isHidden() and "evicted" in view.budget_label.text(),
              message="the note under the tree")
    churn = view.model.index_for_topic("churn", "east")
    assert churn.isValid()
    # The model follows the core one summary behind: the rows it shows catch up with the live children
    # (the first FETCH_BATCH of them: the rest come when the view scrolls to the end).
    def shown_are_kept() -> bool:
        kept = tree.node("churn", "east").live_children()[:FETCH_BATCH]
        return [view.model.index(row, 0, churn).internalPointer() for row in range(view.model.rowCount(churn))] == kept

    run_until(qloop, shown_are_kept, message="the rows shown are the topics kept")
    # More rows than one batch are kept, so the parent says both: how many are shown, and how many went.
    assert churn.siblingAtColumn(COL_VALUE).data().endswith(f"; {tree.node('churn', 'east').evicted:,} evicted not shown)")
    assert tree.node("churn", "east").subtree_count == 1_200  # the parent keeps every message counted


def test_the_budget_is_kept_for_the_next_start(qtbot, settings):
    first = AppContext(settings)
    first.set_topic_budget(50_000)
    first.shutdown()
    again = AppContext(QSettings(settings.fileName(), QSettings.IniFormat))
    window = MainWindow(again)
    qtbot.addWidget(window)
    try:
        assert again.topic_budget == 50_000
        again.workspace.tick_now()
        assert again.workspace.tree.topic_budget == 50_000
        assert window.topic_budget_action.text().startswith("Topic &budget")
    finally:
        window.close()
