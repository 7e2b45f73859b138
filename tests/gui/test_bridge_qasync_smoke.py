"""The summary bridge hands the workspace's work to the GUI thread: one signal per frame, never per message."""

from eventscope.core.records import MessageRecord
from tests.gui.conftest import run_until


def test_bridge_delivers_published_messages_one_summary_per_tick(connected_context, qloop, qtbot):
    """Live messages from a real broker, frames ticked by hand: exactly one summary per tick, never one per message."""
    bridge = connected_context.bridge
    bridge._timer.stop()  # the frame timer would add ticks this test does not count
    summaries: list = []
    bridge.summaryReady.connect(summaries.append)
    session = connected_context.session
    for i in range(200):
        session.publish(f"x/{i % 5}", str(i).encode(), qos=1)
    ticks = 0

    def tick() -> bool:
        nonlocal ticks
        if bridge.flush() is not None:
            ticks += 1
        return sum(s.messages for s in summaries) >= 200

    run_until(qloop, tick, message="200 messages through the bridge")
    tree = connected_context.workspace.tree
    assert sorted(tree.node(f"x/{i}").count for i in range(5)) == [40] * 5
    assert len(summaries) == ticks and sum(s.messages for s in summaries) == 200


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
