"""Named connection profiles, shared by the window and the CLI: one JSON file, passwords in the keychain.

The file lives in the platform's config directory (``profiles.json``). It holds no secret:
``ConnectionProfile.from_dict`` drops any ``password`` key it meets, and passwords go through
``core/profiles/credentials.py`` to the OS keychain. Export writes the same secret-free form.

Besides the connection itself, a stored profile carries what the workspace needs to place the
broker: a region name (optional), the audit filters, and a colour for the window; and how to
decode its payloads: the ordered decoder rules and the .proto files or folders they use.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import platformdirs

from eventscope.core.decoding.rules import DecoderRule, DecoderRuleError, DecoderRules
from eventscope.core.profile import DEFAULT_AUDIT_FILTERS, ConnectionProfile
from eventscope.core.profiles.credentials import CredentialError, forget_password, load_password, save_password

FORMAT_VERSION = 1


class ProfileError(ValueError):
    """A profile that cannot be read, found or stored; the message says why."""


def default_profiles_path() -> Path:
    return Path(platformdirs.user_config_dir("eventscope")) / "profiles.json"


@dataclass(frozen=True)
class StoredProfile:
    """A named connection profile with the broker's place in the mesh."""

    connection: ConnectionProfile
    region: str = ""  # the broker's region, e.g. "us-east"; empty: take it from a topic level
    audit_filters: tuple[str, ...] = DEFAULT_AUDIT_FILTERS
    colour: str = ""  # "#rrggbb" for the window; empty: one is picked
    decoder_rules: tuple[DecoderRule, ...] = ()  # first match wins
    proto_paths: tuple[str, ...] = ()  # .proto files, folders or descriptor sets for protobuf rules

    @property
    def name(self) -> str:
        return self.connection.name

    def to_dict(self) -> dict[str, Any]:
        return {"connection": self.connection.to_dict(), "region": self.region,
                "audit_filters": list(self.audit_filters), "colour": self.colour,
                "decoder_rules": [rule.to_dict() for rule in self.decoder_rules], "proto_paths": list(self.proto_paths)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoredProfile:
        if not isinstance(data, dict) or not isinstance(data.get("connection"), dict):
            raise ProfileError("a profile needs a 'connection' object")
        try:
            connection = ConnectionProfile.from_dict(data["connection"])
        except (TypeError, ValueError) as exc:
            raise ProfileError(f"profile {data['connection'].get('name', '?')!r}: {exc}") from exc
        filters = data.get("audit_filters", DEFAULT_AUDIT_FILTERS)
        try:
            rules = DecoderRules.rules_from_list(data.get("decoder_rules", ()))
        except DecoderRuleError as exc:
            raise ProfileError(f"profile {connection.name!r}: {exc}") from exc
        return cls(connection, str(data.get("region", "")), tuple(str(f) for f in filters), str(data.get("colour", "")),
                   rules, tuple(str(p) for p in data.get("proto_paths", ())))


@dataclass
class ProfileStore:
    """The profiles file: load, save (atomically), look up by name, import and export."""

    path: Path = field(default_factory=default_profiles_path)
    profiles: dict[str, StoredProfile] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path | None = None) -> ProfileStore:
        store = cls(Path(path) if path else default_profiles_path())
        if store.path.exists():
            store.profiles = {p.name: p for p in read_profiles(store.path)}
        return store

    @classmethod
    def load_or_recover(cls, path: str | Path | None = None) -> tuple[ProfileStore, str]:
        """Load, or, if the file cannot be read, move it aside and start empty. Returns the store and what happened."""
        try:
            return cls.load(path), ""
        except ProfileError as exc:
            store = cls(Path(path) if path else default_profiles_path())
            aside = store.path.with_name(f"{store.path.name}.unreadable-{int(time.time())}")
            try:
                store.path.replace(aside)
            except OSError:
                return store, f"{exc}; profiles will not be saved until it is fixed"
            return store, f"{exc}; it was moved to {aside} and a new profiles file started"

    def save(self) -> None:
        write_profiles(self.path, self.profiles.values())

    def names(self) -> list[str]:
        return sorted(self.profiles)

    def get(self, name: str) -> StoredProfile:
        try:
            return self.profiles[name]
        except KeyError:
            known = ", ".join(self.names()) or "none yet"
            raise ProfileError(f"No profile named {name!r} (profiles: {known})") from None

    def put(self, profile: StoredProfile, password: str | None = None) -> None:
        """Add or replace ``profile``; a password goes to the keychain, never to the file."""
        self.profiles[profile.name] = profile
        if password and profile.connection.username:
            save_password(profile.name, profile.connection.username, password)
        self.save()

    def remove(self, name: str) -> None:
        profile = self.profiles.pop(name, None)
        if profile is not None and profile.connection.username:
            forget_password(name, profile.connection.username)
        self.save()

    def duplicate(self, name: str, new_name: str) -> StoredProfile:
        if new_name in self.profiles:
            raise ProfileError(f"A profile named {new_name!r} exists already")
        original = self.get(name)
        copy = replace(original, connection=original.connection.with_changes(name=new_name))
        password = self.password(name)
        self.put(copy, password)
        return copy

    def password(self, name: str) -> str | None:
        profile = self.get(name)
        if not profile.connection.username:
            return None
        return load_password(name, profile.connection.username)

    def export(self, path: str | Path, names: list[str] | None = None) -> int:
        """Write the chosen profiles (all by default) without any secret. Returns how many."""
        chosen = [self.get(n) for n in names] if names else list(self.profiles.values())
        write_profiles(Path(path), chosen)
        return len(chosen)

    def import_file(self, path: str | Path) -> list[str]:
        """Add every profile of an exported file (replacing same names). Returns their names."""
        imported = read_profiles(Path(path))
        for profile in imported:
            self.profiles[profile.name] = profile
        self.save()
        return [p.name for p in imported]


def read_profiles(path: Path) -> list[StoredProfile]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ProfileError(f"{path} is not valid JSON: {exc}") from exc
    items = data.get("profiles") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ProfileError(f"{path} has no 'profiles' list")
    return [StoredProfile.from_dict(item) for item in items]


def write_profiles(path: Path, profiles) -> None:
    """Write atomically (a temp file renamed over the old one), so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"version": FORMAT_VERSION, "profiles": [p.to_dict() for p in profiles]}, indent=2)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(body + "\n")
        os.replace(temp, path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise ProfileError(f"Cannot write {path}: {exc.strerror or exc}") from exc


__all__ = ["CredentialError", "ProfileError", "ProfileStore", "StoredProfile", "default_profiles_path"]
