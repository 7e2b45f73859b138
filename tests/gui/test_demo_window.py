"""The window on the embedded demo: every view moves within seconds, from all four regions."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from eventscope.core.demo.environment import DemoEnvironment
from eventscope.core.demo.simulator import DEMO_REGIONS
from eventscope.core.profile import ConnectionProfile
from eventscope.gui.main_window import MainWindow
from eventscope.gui.models.stream_table_model import REGION
from tests.gui.conftest import run_until


@pytest.fixture
def demo():
    environment = DemoEnvironment().start()
    yield environment
    environment.stop()


def test_demo_window_shows_all_regions_within_five_seconds_and_a_reply(demo, context, qtbot, qloop):
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.show()
    window.connect_to(ConnectionProfile(name="demo", host=demo.broker.host, port=demo.broker.port))
    tree_model = window.topic_tree.model
    stream_tab = window.stream_view.stream_tab()

    def tree_regions() -> set[str]:  # the first topic level, under the demo broker's root
        broker = tree_model.index(0, 0)
        return {tree_model.index(row, 0, broker).data() for row in range(tree_model.rowCount(broker))}

    run_until(qloop, lambda: set(DEMO_REGIONS) <= tree_regions(), timeout=5, message="four regions in the tree")
    run_until(qloop, lambda: all(stream_tab.chips.chip(r) is not None for r in DEMO_REGIONS), timeout=10,
              message="a region chip per region")

    # None, then checking two region chips, narrows the stream to those regions on the next frame.
    qtbot.mouseClick(stream_tab.chips.none_button, Qt.LeftButton)
    qtbot.mouseClick(stream_tab.chips.chip("us-east"), Qt.LeftButton)
    qtbot.mouseClick(stream_tab.chips.chip("eu-central"), Qt.LeftButton)

    def shown() -> set[str]:
        return {stream_tab.model.index(row, REGION).data() for row in range(stream_tab.model.rowCount())}

    run_until(qloop, lambda: shown() == {"us-east", "eu-central"}, timeout=10, message="only the two chosen regions")

    panel = window.request_panel
    panel.payload_edit.setPlainText('{"greeting": "hi"}')
    qtbot.mouseClick(panel.send_button, Qt.LeftButton)
    run_until(qloop, lambda: "Reply received in" in panel.status_label.text(), timeout=10, message="the reply")
    assert " B · reply topic " in panel.reply_details.text() and "RTT" not in panel.reply_details.text()
    assert panel.status_label.text().startswith("Reply received in ")  # the RTT, said once
    window.close()
