"""Profiles parse broker addresses, never carry passwords, and passwords go to the keychain."""

import json

import keyring
import pytest

from eventscope.core.profile import ConnectionProfile, parse_broker_address, unique_client_id
from eventscope.core.profiles import credentials
from tests.helpers.memory_keyring import MemoryKeyring


@pytest.mark.parametrize("text,expected", [
    ("broker.local", ("broker.local", 1883, False, "tcp")),
    ("10.0.0.5:1884", ("10.0.0.5", 1884, False, "tcp")),
    ("mqtts://b.example", ("b.example", 8883, True, "tcp")),
    ("wss://b.example:9001/mqtt", ("b.example", 9001, True, "websockets")),
])
def test_parse_broker_address(text, expected):
    assert parse_broker_address(text) == expected


@pytest.mark.parametrize("text", ["", "ftp://x", "host:notaport"])
def test_bad_addresses_explain(text):
    with pytest.raises(ValueError):
        parse_broker_address(text)


def test_client_ids_are_unique_per_run():
    assert unique_client_id() != unique_client_id()


def test_profile_round_trip_never_reads_a_password():
    profile = ConnectionProfile(host="h", port=1, username="u")
    data = profile.to_dict()
    assert "password" not in json.dumps(data)
    data["password"] = "leaked"
    assert ConnectionProfile.from_dict(data) == profile


def test_tls_verifies_by_default():
    assert ConnectionProfile().tls.verify is True


def test_password_goes_to_the_keychain():
    backend = MemoryKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        credentials.save_password("prod", "alice", "s3cret")
        assert backend.store == {("eventscope", "prod:alice"): "s3cret"}
        assert credentials.load_password("prod", "alice") == "s3cret"
        credentials.forget_password("prod", "alice")
        assert credentials.load_password("prod", "alice") is None
    finally:
        keyring.set_keyring(previous)


def test_missing_keychain_is_a_clear_error_not_a_plaintext_fallback():
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        with pytest.raises(credentials.CredentialError, match="No OS keychain"):
            credentials.save_password("prod", "alice", "s3cret")
        assert credentials.load_password("prod", "alice") is None
    finally:
        keyring.set_keyring(previous)
