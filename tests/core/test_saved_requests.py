"""Saved requests in core: plain data in and out, damaged entries explained, overwrite and delete by name."""

from __future__ import annotations

import json

import pytest

from eventscope.core.requests.saved import DEFAULT_TEMPLATE, DamagedSavedRequest, SavedRequest, SavedRequests
from eventscope.core.requests.tracker import DEFAULT_TIMEOUT

ORDER = SavedRequest(template="{region}/orders/request", region="ap-south", payload='{"order": 42}', qos=1,
                     reply_topic="orders/replies", timeout=2.5, content_type="application/json", message_expiry=30,
                     user_properties=(("tenant", "acme"), ("trace", "on")))


def test_round_trip_through_json_and_plain_data():
    saved = SavedRequests()
    saved.save("order 42", ORDER)
    saved.save("ping", SavedRequest())
    text = saved.to_json()
    assert isinstance(text, str)
    again = SavedRequests.from_json(text)
    assert again.names() == ["order 42", "ping"]
    assert again.get("order 42") == ORDER
    assert again.get("ping") == SavedRequest(template=DEFAULT_TEMPLATE, timeout=DEFAULT_TIMEOUT)
    assert SavedRequests.from_plain(json.loads(json.dumps(again.to_plain()))).get("order 42") == ORDER


def test_stored_form_keeps_the_keys_existing_settings_use():
    """Settings written before the split still load, and what is written now reads the same way."""
    assert ORDER.to_plain() == {
        "template": "{region}/orders/request", "region": "ap-south", "payload": '{"order": 42}', "qos": 1,
        "reply_topic": "orders/replies", "timeout": 2.5, "content_type": "application/json", "message_expiry": 30,
        "user_properties": [["tenant", "acme"], ["trace", "on"]],
    }
    older = SavedRequests.from_json(json.dumps({"old": {"template": "x/{region}", "qos": "2", "payload": "p"}}))
    assert older.get("old") == SavedRequest(template="x/{region}", qos=2, payload="p")


def test_a_damaged_entry_is_explained_not_raised_as_a_crash():
    saved = SavedRequests.from_json(json.dumps({
        "broken": {"qos": "high", "payload": "x"},
        "props": {"user_properties": [["only-key"]]},
        "qos9": {"qos": 9},
        "fine": {"payload": "ok"},
    }))
    assert saved.names() == ["broken", "fine", "props", "qos9"]  # damaged ones stay listed, so they can be deleted
    for name, why in (("broken", "invalid literal for int()"), ("props", "not enough values to unpack"),
                      ("qos9", "QoS 9")):
        with pytest.raises(DamagedSavedRequest) as caught:
            saved.get(name)
        assert str(caught.value).startswith(f"The saved request {name!r} is damaged and was not loaded: ")
        assert why in caught.value.reason and caught.value.name == name
    assert saved.get("fine") == SavedRequest(payload="ok")
    assert saved.get("unknown") is None


def test_an_infinite_number_is_damage_too():
    saved = SavedRequests.from_plain({"inf": {"message_expiry": float("inf")}})
    with pytest.raises(DamagedSavedRequest):
        saved.get("inf")


@pytest.mark.parametrize("stored", [None, "", "not json", "[1, 2]", b"\xff", 42, ["a"], '{"x": 3, "y": "z"}'])
def test_unreadable_settings_give_no_saved_requests(stored):
    saved = SavedRequests.from_json(stored)
    assert len(saved) == 0 and saved.names() == []


def test_overwrite_by_name_and_delete():
    saved = SavedRequests()
    saved.save("a", SavedRequest(payload="first"))
    saved.save("b", SavedRequest(payload="other"))
    saved.save("a", SavedRequest(payload="second"))
    assert saved.names() == ["a", "b"] and len(saved) == 2
    assert saved.get("a") == SavedRequest(payload="second")
    assert list(json.loads(saved.to_json())) == ["a", "b"]  # an overwrite keeps its place in the stored text
    assert saved.delete("a") is True
    assert "a" not in saved and saved.get("a") is None and saved.names() == ["b"]
    assert saved.delete("a") is False
    with pytest.raises(ValueError):
        saved.save("  ", SavedRequest())


def test_reading_does_not_share_state_with_the_caller():
    plain = {"a": {"payload": "p"}}
    saved = SavedRequests.from_plain(plain)
    saved.to_plain()["a"]["payload"] = "changed"
    saved.delete("a")
    assert plain == {"a": {"payload": "p"}}
