"""The summary bridge hands the workspace's work to the GUI thread: one signal per frame, never per message."""

import time

from eventscope.core.records import MessageRecord
from tests.gui.conftest import run_until


def test_bridge_delivers_workspace_summaries_at_most_one_per_frame(connected_context, qloop, qtbot):
    """Live messages from a real broker; the workspace's tick thread and the bridge's own frame timer run under the
    qasync loop: every message reaches a connected slot inside a tick's summary, at most one summary per frame."""
    bridge = connected_context.bridge
    summaries: list = []
    delivered_by_frame: list[int] = []  # how many summaries the slot had after each frame's poll
    bridge.summaryReady.connect(summaries.append)
    # Connected after the bridge's own poll, so Qt calls it right after that frame's delivery.
    bridge._timer.timeout.connect(lambda: delivered_by_frame.append(len(summaries)))
    session = connected_context.session
    for i in range(200):
        session.publish(f"x/{i % 5}", str(i).encode(), qos=1)

    run_until(qloop, lambda: sum(s.messages for s in summaries) >= 200, message="200 messages through the bridge")

    assert sum(s.messages for s in summaries) == 200  # each message in exactly one delivered summary
    ticks = [s.tick for s in summaries]
    assert ticks == sorted(set(ticks)), f"a workspace tick delivered twice or out of order: {ticks}"
    assert summaries[-1].received == 200 and summaries[-1].dropped == 0  # the broker's counters, from the tick
    assert {f"x/{i}" for i in range(5)} <= {node.topic for s in summaries for node in s.tree.created}
    per_frame = [after - before for before, after in zip([0, *delivered_by_frame], delivered_by_frame)]
    assert max(per_frame) <= 1, f"a frame delivered {max(per_frame)} summaries"
    assert delivered_by_frame[-1] == len(summaries)  # every summary came from a frame of the timer
    tree = connected_context.workspace.tree
    assert sorted(tree.node(f"x/{i}").count for i in range(5)) == [40] * 5


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


def test_a_slow_frame_leaves_room_for_other_events_before_the_next(context, qloop, qtbot):
    """Two heavy frames in a row stall the window as one long freeze: after each frame the loop gets a gap
    in which other timers (here a 5 ms probe, standing in for input and painting) run."""
    from PySide6.QtCore import QTimer

    from eventscope.gui.bridge import MIN_GAP_MS

    events: list[str] = []

    def slow_frame(_summary) -> None:
        events.append("frame")
        deadline = time.perf_counter() + 0.06  # a frame twice as long as the frame interval
        while time.perf_counter() < deadline:
            pass

    context.bridge.summaryReady.connect(slow_frame)
    probe = QTimer(interval=5, timeout=lambda: events.append("probe"))
    probe.start()
    context.bridge.start()
    keep_feeding = QTimer(interval=5, timeout=lambda: context.workspace.feed([MessageRecord("busy/x", b"1")]))
    keep_feeding.start()
    try:
        run_until(qloop, lambda: events.count("frame") >= 6, message="six slow frames")
    finally:
        keep_feeding.stop()
        probe.stop()
    frames = [i for i, event in enumerate(events) if event == "frame"]
    assert all("probe" in events[a + 1:b] for a, b in zip(frames, frames[1:])), (MIN_GAP_MS, events)


def test_a_frame_paints_what_its_summary_changed_before_the_tick_goes_on(context, qtbot):
    """Painting calls into the item models many times, each taking the interpreter lock: the frame paints
    while the tick still waits for it, not later, in turns with a running tick."""
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QWidget

    from tests.conftest import wait_until

    painted: list[int] = []

    class PaintCounter(QObject):
        def eventFilter(self, watched, event):  # noqa: N802 (Qt's name)
            if event.type() == QEvent.Type.Paint:
                painted.append(1)
            return False

    view = QWidget()
    qtbot.addWidget(view)
    view.resize(200, 100)
    view.show()
    qtbot.waitExposed(view)
    counter = PaintCounter()
    view.installEventFilter(counter)
    qtbot.waitUntil(lambda: bool(painted))  # shown, polished and painted once
    context.bridge.summaryReady.connect(lambda _summary: view.update())
    context.workspace.start()
    painted.clear()
    delivered: list = []
    # No Qt events are processed here: only a paint inside poll() itself can be counted.
    wait_until(lambda: delivered.append(context.bridge.poll()) or delivered[-1] is not None,
               message="a summary delivered")
    assert painted, "the frame returned before painting what its summary changed"
