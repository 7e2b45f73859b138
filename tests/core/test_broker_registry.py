"""The broker registry and the opener without a window: the monitor rule, the current broker, where the
audit goes, and the workspace kept for the next start, against a real Mosquitto."""

from __future__ import annotations

import pytest

from eventscope.core.profile import ConnectionProfile
from eventscope.core.profiles.store import ProfileStore, StoredProfile
from eventscope.core.workspace.brokers import WORKSPACE_AUDIT_NAME, BrokerEntry, BrokerRegistry
from eventscope.core.workspace.opening import BrokerOpener
from eventscope.core.workspace.workspace import Workspace


@pytest.fixture
def registry():
    workspace = Workspace()
    yield BrokerRegistry(workspace)
    workspace.close()


def profile(name: str, port: int, **changes) -> ConnectionProfile:
    return ConnectionProfile(name=name, host="127.0.0.1", port=port, **changes)


def test_a_monitor_opens_every_broker_read_only_and_without_a_will(registry, mosquitto):
    registry.read_only = True
    connection = registry.add(BrokerEntry(profile("east", mosquitto.port, will_topic="east/status")))
    assert connection.profile.read_only and connection.profile.will_topic == ""
    assert registry.entry("east").profile.read_only  # a reconnect keeps it too
    registry.close("east", keep_topics=True)
    assert registry.reconnect("east").profile.read_only


def test_the_first_open_broker_is_current_and_another_takes_over_when_it_closes(registry, mosquitto):
    registry.add(BrokerEntry(profile("east", mosquitto.port)))
    registry.add(BrokerEntry(profile("west", mosquitto.port)))
    assert registry.current == "east"
    with pytest.raises(ValueError, match="already in the window"):
        registry.add(BrokerEntry(profile("east", mosquitto.port)))
    assert registry.close("east", keep_topics=True) is True
    assert registry.current == "west" and [e.broker_id for e in registry.entries()] == ["east", "west"]
    registry.close("west", keep_topics=False)
    assert registry.current is None and [e.broker_id for e in registry.entries()] == ["east"]


def test_every_broker_records_into_one_database_with_its_profile_filters(registry, mosquitto):
    registry.set_audit()
    plain = BrokerEntry(profile("east", mosquitto.port))
    own = BrokerEntry(profile("west", mosquitto.port), audit_filters=("west/+/request",))
    first, second = registry.audit_for(plain), registry.audit_for(own)
    assert first is not None and second is not None
    assert first.path == second.path and first.path.stem == WORKSPACE_AUDIT_NAME
    assert second.filters == ("west/+/request",) and first.filters != second.filters


def test_the_workspace_is_saved_by_profile_name_and_restored(registry, mosquitto, tmp_path):
    store = ProfileStore(tmp_path / "profiles.json")
    store.profiles["east"] = StoredProfile(profile("east", mosquitto.port), region="us-east")
    store.save()
    opener = BrokerOpener(registry, lambda: ProfileStore.load(store.path))
    registry.add(opener.open_stored(store.get("east")))
    registry.add(opener.open_profile(profile("scratch", mosquitto.port), region="lab"))
    registry.add(opener.open_profile(profile("demo", mosquitto.port)))  # the embedded demo: never saved

    saved = opener.read_saved_workspace(opener.saved_workspace())
    assert [(s.profile_name, s.connection.name if s.connection else "", s.region) for s in saved] == [
        ("east", "", ""), ("", "scratch", "lab")]


def test_a_damaged_saved_workspace_is_reported_not_raised(registry):
    problems: list[str] = []
    opener = BrokerOpener(registry, ProfileStore, report=problems.append)
    assert opener.read_saved_workspace("{not json") == []
    assert opener.read_saved_workspace('[{"connection": {"port": "x"}}, {"profile": "east"}]')[0].profile_name == "east"
    assert len(problems) == 2 and problems[0].startswith("The saved workspace could not be read")
    assert problems[1].startswith("A saved broker could not be opened")


def test_a_monitor_run_does_not_touch_the_saved_workspace(registry, mosquitto):
    registry.read_only = True
    opener = BrokerOpener(registry, ProfileStore)
    registry.add(opener.open_profile(profile("east", mosquitto.port)))
    assert opener.saved_workspace() is None


def test_a_reconnect_decodes_by_the_profiles_rules_as_they_read_now(registry, mosquitto, tmp_path):
    from eventscope.core.decoding.rules import DecoderRule
    from eventscope.core.records import MessageRecord

    store = ProfileStore(tmp_path / "profiles.json")
    store.profiles["east"] = StoredProfile(profile("east", mosquitto.port),
                                           decoder_rules=(DecoderRule.parse("lab/#=hex"),))
    store.save()
    opener = BrokerOpener(registry, lambda: ProfileStore.load(store.path))
    connection = registry.add(opener.open_stored(store.get("east")))
    opener.opened(connection, store.get("east"))
    record = MessageRecord(topic="lab/x", payload=b"\x81\xa1a\x01", broker_id="east")
    assert registry.workspace.decode(record).decoder == "hex"
    # The profile is edited while the broker is disconnected; connecting again takes the new rule.
    registry.close("east", keep_topics=True)
    store.profiles["east"] = StoredProfile(profile("east", mosquitto.port),
                                           decoder_rules=(DecoderRule.parse("lab/#=msgpack"),))
    store.save()
    registry.reconnect("east")
    assert registry.workspace.decode(record).decoder == "msgpack"
    assert registry.workspace.decode(record).value == {"a": 1}
