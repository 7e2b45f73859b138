"""Named profiles: one JSON file without secrets, passwords in the keychain, import and export."""

from __future__ import annotations

import json
import subprocess

import keyring
import pytest

from eventscope.core.profile import ConnectionProfile
from eventscope.core.profiles.store import ProfileError, ProfileStore, StoredProfile, default_profiles_path
from eventscope.core.workspace.workspace import Workspace
from tests.helpers.memory_keyring import MemoryKeyring

SECRET = "s3cret-Pa55"


@pytest.fixture
def memory_keyring():
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def _profile(name: str = "east", port: int = 1883, username: str = "alice") -> StoredProfile:
    return StoredProfile(ConnectionProfile(name=name, host="127.0.0.1", port=port, username=username),
                         region="us-east", audit_filters=("+/hello/request",), colour="#1f77b4")


def test_profiles_persist_without_secrets_and_passwords_stay_in_the_keychain(memory_keyring, tmp_path):
    store = ProfileStore.load()
    assert store.path == default_profiles_path() and store.names() == []
    store.put(_profile(), password=SECRET)
    text = store.path.read_text()
    assert SECRET not in text
    reopened = ProfileStore.load()
    assert reopened.get("east") == _profile()
    assert reopened.password("east") == SECRET
    exported = tmp_path / "shared.json"
    assert reopened.export(exported) == 1
    assert SECRET not in exported.read_text() and "password" not in exported.read_text()
    other = ProfileStore.load(tmp_path / "other.json")
    assert other.import_file(exported) == ["east"] and other.get("east").region == "us-east"


def test_a_password_smuggled_into_the_file_is_never_read(tmp_path):
    path = tmp_path / "profiles.json"
    data = {"version": 1, "profiles": [_profile().to_dict()]}
    data["profiles"][0]["connection"]["password"] = SECRET
    path.write_text(json.dumps(data))
    store = ProfileStore.load(path)
    assert "password" not in store.get("east").connection.to_dict()
    store.save()
    assert SECRET not in path.read_text()


def test_duplicate_and_remove(memory_keyring):
    store = ProfileStore.load()
    store.put(_profile(), password=SECRET)
    copy = store.duplicate("east", "east-2")
    assert copy.connection.name == "east-2" and store.password("east-2") == SECRET
    with pytest.raises(ProfileError, match="exists already"):
        store.duplicate("east", "east-2")
    store.remove("east")
    assert store.names() == ["east-2"] and memory_keyring.get_password("eventscope", "east:alice") is None


@pytest.mark.parametrize("content,message", [
    ("{not json", "not valid JSON"),
    ('{"profiles": 3}', "no 'profiles' list"),
    ('{"profiles": [{"connection": {"name": "x", "port": 99999}}]}', "out of range"),
])
def test_a_damaged_file_gives_a_clear_error(tmp_path, content, message):
    path = tmp_path / "profiles.json"
    path.write_text(content)
    with pytest.raises(ProfileError, match=message):
        ProfileStore.load(path)


def test_unknown_profile_names_the_known_ones(memory_keyring):
    store = ProfileStore.load()
    store.put(_profile("west", username=""))
    with pytest.raises(ProfileError, match="No profile named 'east' \\(profiles: west\\)"):
        store.get("east")


def test_a_saved_profile_connects_with_its_keychain_password_after_a_restart(memory_keyring, mosquitto_factory,
                                                                            tmp_path):
    passwd = tmp_path / "passwd"
    passwd.touch()
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), "alice", SECRET], check=True)
    broker = mosquitto_factory(f"allow_anonymous false\npassword_file {passwd}\n")
    ProfileStore.load().put(_profile(port=broker.port), password=SECRET)

    restarted = ProfileStore.load()  # a new run: only the file and the keychain remain
    profile = restarted.get("east")
    workspace = Workspace()
    try:
        connection = workspace.add_broker(profile.connection, restarted.password("east"), subscriptions=())
        assert connection.session.wait_connected(10), connection.session.status
    finally:
        workspace.close()
    config_dir = default_profiles_path().parent
    assert not any(SECRET in p.read_text(errors="replace") for p in config_dir.rglob("*") if p.is_file())
