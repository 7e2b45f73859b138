"""The summary bridge hands the workspace's work to the GUI thread: one signal per frame, never per message."""

from core.records import MessageRecord
from tests.gui.conftest import run_until


def test_bridge_delivers_published_messages_in_summaries(connected_context, qloop, qtbot):
    summaries: list = []
    connected_context.bridge.summaryReady.connect(summaries.append)
    session = connected_context.session
    for i in range(200):
        session.publish(f"x/{i % 5}", str(i).encode(), qos=1)
    run_until(qloop, lambda: sum(s.messages for s in summaries) >= 200, message="200 messages through the bridge")
    tree = connected_context.workspace.tree
    assert sorted(tree.node(f"x/{i}").count for i in range(5)) == [40] * 5
    assert len(summaries) < 200  # summaries per frame, not one signal per message


def test_one_summary_per_frame_when_ticked_by_hand(context, qtbot):
    """With the timer stopped, each hand tick emits exactly one summary, whatever it carries."""
    summaries: list = []
    context.bridge.summaryReady.connect(summaries.append)
    for frame in range(3):
        context.workspace.feed(MessageRecord(f"f/{frame}/{i}", b"x") for i in range(100 * (frame + 1)))
        context.bridge.flush()
        assert len(summaries) == frame + 1
        assert summaries[-1].messages == 100 * (frame + 1)
    assert context.bridge.poll() is None  # nothing new: no signal
    assert len(summaries) == 3
