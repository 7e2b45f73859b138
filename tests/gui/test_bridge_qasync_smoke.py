"""The flush bridge hands batches to the GUI thread, one signal per tick, under a qasync loop."""

from tests.gui.conftest import run_until


def test_bridge_delivers_published_messages_in_batches(connected_context, qloop, qtbot):
    batches: list[list] = []
    connected_context.bridge.batchFlushed.connect(batches.append)
    session = connected_context.session
    for i in range(200):
        session.publish(f"x/{i % 5}", str(i).encode(), qos=1)
    run_until(qloop, lambda: sum(len(b) for b in batches) >= 200, message="200 messages through the bridge")
    topics = [r.topic for b in batches for r in b if r.topic.startswith("x/")]
    assert len(topics) == 200
    assert len(batches) < 200  # batched, not one signal per message
