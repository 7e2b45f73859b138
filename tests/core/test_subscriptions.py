"""The one subscription owner against a real Mosquitto: the user's filters and tool holds never take
each other away, and both outlive a disconnect."""

from __future__ import annotations

import pytest

from eventscope.core.profile import ConnectionProfile
from eventscope.core.topics import TopicError
from eventscope.core.workspace.workspace import Workspace
from tests.conftest import publish_raw, wait_until


@pytest.fixture
def workspace():
    ws = Workspace()
    yield ws
    ws.close()


def open_broker(workspace: Workspace, port: int, subscriptions=None):
    connection = workspace.add_broker(ConnectionProfile(name="east", host="127.0.0.1", port=port),
                                      subscriptions=subscriptions)
    assert connection.session.wait_connected(10), connection.session.status
    for topic_filter, qos in workspace.subscriptions.wanted("east"):  # wait for the SUBACKs of the opening ones
        connection.session.subscribe(topic_filter, qos).result(10)
    return connection


def topics_received(connection) -> list[str]:
    return [record.topic for record in connection.buffer.drain()]


def deliveries(connection, port: int, topics: list[str], sentinel: str = "sentinel/done") -> list[str]:
    """Publish ``topics`` then a sentinel the session is subscribed to; what arrived before the sentinel.

    One publisher's messages reach a subscriber in order, so anything not delivered by then never will be."""
    publish_raw(port, [(topic, b"x") for topic in topics] + [(sentinel, b"end")])
    seen: list[str] = []
    wait_until(lambda: seen.extend(topics_received(connection)) or sentinel in seen, message="the sentinel")
    return [topic for topic in seen[:seen.index(sentinel)] if topic in topics]  # $SYS traffic aside


def test_a_tool_letting_go_keeps_the_users_own_filter(workspace, mosquitto):
    """The case that lost data: a view holds $SYS/#, the user adds it too, the view closes."""
    connection = open_broker(workspace, mosquitto.port, subscriptions=(("sentinel/#", 0),))
    owner = workspace.subscriptions
    owner.hold("east", "$SYS/#").result(10)
    owner.hold("east", "tool/#").result(10)
    owner.subscribe("east", "$SYS/#", 1).result(10)
    owner.subscribe("east", "tool/#", 0).result(10)

    owner.release("east", "$SYS/#").result(10)
    owner.release("east", "tool/#").result(10)

    assert owner.user_filters("east") == {"sentinel/#": 0, "$SYS/#": 1, "tool/#": 0}
    assert {"$SYS/#", "tool/#"} <= set(connection.session.subscriptions)
    assert deliveries(connection, mosquitto.port, ["tool/a"]) == ["tool/a"]


def test_the_user_dropping_a_held_filter_leaves_it_to_the_tool_until_it_lets_go(workspace, mosquitto):
    connection = open_broker(workspace, mosquitto.port, subscriptions=(("sentinel/#", 0), ("tool/#", 0)))
    owner = workspace.subscriptions
    owner.hold("east", "tool/#").result(10)
    owner.hold("east", "tool/#").result(10)  # two views hold it

    owner.unsubscribe("east", "tool/#").result(10)
    assert "tool/#" not in owner.user_filters("east")
    assert deliveries(connection, mosquitto.port, ["tool/a"]) == ["tool/a"]

    owner.release("east", "tool/#").result(10)
    assert deliveries(connection, mosquitto.port, ["tool/b"]) == ["tool/b"]  # one view still holds it
    owner.release("east", "tool/#").result(10)
    assert deliveries(connection, mosquitto.port, ["tool/c"]) == []
    assert not owner.is_subscribed("east", "tool/#")


def test_the_users_filters_and_tool_holds_come_back_after_a_disconnect(workspace, mosquitto):
    open_broker(workspace, mosquitto.port, subscriptions=(("sentinel/#", 0),))
    owner = workspace.subscriptions
    owner.subscribe("east", "mine/#", 1).result(10)
    owner.hold("east", "$SYS/broker/uptime").result(10)

    workspace.remove_broker("east", keep_topics=True)
    assert owner.user_filters("east") == {"sentinel/#": 0, "mine/#": 1}
    again = open_broker(workspace, mosquitto.port)  # no subscriptions given: the ones it had

    assert again.session.subscriptions == {"sentinel/#": 0, "mine/#": 1, "$SYS/broker/uptime": 0}
    assert deliveries(again, mosquitto.port, ["mine/a"]) == ["mine/a"]


def test_removing_a_broker_forgets_its_filters_and_a_new_one_starts_on_everything(workspace, mosquitto):
    open_broker(workspace, mosquitto.port, subscriptions=(("only/#", 0),))
    workspace.remove_broker("east")
    assert workspace.subscriptions.user_filters("east") == {}
    again = open_broker(workspace, mosquitto.port)
    assert again.session.subscriptions == {"#": 0}


def test_a_bad_filter_is_refused_before_anything_changes(workspace, mosquitto):
    open_broker(workspace, mosquitto.port, subscriptions=(("a/#", 0),))
    with pytest.raises(TopicError):
        workspace.subscriptions.subscribe("east", "a/#/b")
    with pytest.raises(TopicError):
        workspace.subscriptions.hold("east", "")
    assert workspace.subscriptions.user_filters("east") == {"a/#": 0}


def test_a_filter_added_while_disconnected_is_subscribed_on_the_next_connection(workspace, mosquitto):
    open_broker(workspace, mosquitto.port, subscriptions=(("sentinel/#", 0),))
    workspace.remove_broker("east", keep_topics=True)
    assert workspace.subscriptions.subscribe("east", "later/#").result(1) is None  # kept, nothing sent
    again = open_broker(workspace, mosquitto.port)
    assert deliveries(again, mosquitto.port, ["later/x"]) == ["later/x"]
