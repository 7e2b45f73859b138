"""An empty stream says which filter it waits on, a search with no match says so, and pausing moves nothing."""

from __future__ import annotations

from eventscope.gui.views.stream_view import StreamView
from tests.conftest import publish_raw
from tests.gui.conftest import run_until


def test_empty_states_and_a_steady_filter_bar_while_paused(connected_context, mosquitto, qloop, qtbot):
    view = StreamView(connected_context)
    qtbot.addWidget(view)
    view.resize(1000, 300)
    view.show()
    tab = view.stream_tab()
    assert tab.empty_label.isVisible() and tab.empty_label.text() == "Waiting for messages on +/hello/request"
    publish_raw(mosquitto.port, [("us-east/hello/request", b"hello")])
    run_until(qloop, lambda: tab.model.rowCount() == 1, message="the request in the stream")
    assert not tab.empty_label.isVisible()
    tab.search_edit.setText("no-such-text")
    run_until(qloop, lambda: tab.model.rowCount() == 0, message="the search applied")
    assert tab.empty_label.isVisible()
    assert tab.empty_label.text() == "No message on +/hello/request matches search 'no-such-text'"
    tab.search_edit.clear()
    run_until(qloop, lambda: tab.model.rowCount() == 1, message="the row back")

    widths = (tab.filter_edit.width(), tab.search_edit.width())
    tab.pause_button.click()
    publish_raw(mosquitto.port, [("us-west/hello/request", b"held")] * 3)
    run_until(qloop, lambda: tab.waiting_label.text() == "3 waiting", message="three waiting")
    assert (tab.filter_edit.width(), tab.search_edit.width()) == widths
    tab.pause_button.click()
    run_until(qloop, lambda: tab.model.rowCount() == 4, message="nothing lost on resume")


def test_a_dollar_stream_tab_subscribes_and_closing_it_unsubscribes(connected_context, qloop, qtbot,
                                                                    mosquitto_factory):
    from eventscope.core.profile import ConnectionProfile

    view = StreamView(connected_context)
    qtbot.addWidget(view)
    view.show()
    session = connected_context.session
    tab = view.add_stream("$SYS/broker/uptime")
    run_until(qloop, lambda: "$SYS/broker/uptime" in session.subscriptions, message="the $ subscription")
    tab.filter_edit.setText("$SYS/broker/version")
    tab.filter_edit.editingFinished.emit()
    assert "$SYS/broker/uptime" not in session.subscriptions and "$SYS/broker/version" in session.subscriptions
    # Another broker becomes current: the $ subscription moves with it, none is left behind.
    other = mosquitto_factory()
    second = connected_context.add_broker(ConnectionProfile(name="second", host="127.0.0.1", port=other.port),
                                          make_current=True).session
    run_until(qloop, lambda: "$SYS/broker/version" in second.subscriptions, message="moved to the new broker")
    assert "$SYS/broker/version" not in session.subscriptions
    view._on_tab_close_requested(view.tabs.indexOf(tab))
    run_until(qloop, lambda: "$SYS/broker/version" not in second.subscriptions, message="unsubscribed on close")
    assert "#" in session.subscriptions and "#" in second.subscriptions  # the main subscriptions stay
