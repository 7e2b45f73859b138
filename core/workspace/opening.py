"""Opening brokers from saved profiles, and the list of open brokers kept for the next start.

``BrokerOpener`` is the policy a window (or any front end) follows: a typed password goes to the
OS keychain and an untyped one comes from it; a saved profile brings its region, colour, audit
filters and decoder rules, and its ``.proto`` files compile off the caller's thread; a reconnect
reads the profile again; and which brokers were open is saved by profile name (unsaved ones
without their password) and restored. Problems are reported as text through ``report``; nothing
here raises into a window's event loop.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass

from eventscope.core.connections.handle import BrokerHandle
from eventscope.core.decoding.protobuf_schemas import ProtoSchemas
from eventscope.core.profile import ConnectionProfile
from eventscope.core.profiles.credentials import CredentialError, load_password, save_password
from eventscope.core.profiles.store import ProfileStore, StoredProfile
from eventscope.core.workspace.brokers import DEFAULT_SUBSCRIPTIONS, BrokerEntry, BrokerRegistry

DEMO_BROKER = "demo"  # the embedded demo's broker: never saved in the workspace


@dataclass(frozen=True, slots=True)
class SavedBroker:
    """One broker of a saved workspace: a saved profile by name, or an unsaved connection."""

    profile_name: str = ""
    connection: ConnectionProfile | None = None
    region: str = ""


class BrokerOpener:
    """Opens brokers into ``registry``; ``load_profiles`` reads the profiles file afresh (the CLI shares it)."""

    def __init__(self, registry: BrokerRegistry, load_profiles: Callable[[], ProfileStore],
                 report: Callable[[str], None] = lambda _text: None) -> None:
        self.registry = registry
        self.load_profiles = load_profiles
        self.report = report  # may be called from a compile thread: the front end hands it to its own
        registry.refresh = self.refresh
        registry.reopened = self.reopened

    # ----- passwords --------------------------------------------------------------------------
    def password_for(self, profile: ConnectionProfile, typed: str | None) -> str | None:
        """A typed password goes to the keychain; with none typed, the keychain's is used."""
        if not profile.username:
            return typed
        if typed:
            try:
                save_password(profile.name, profile.username, typed)
            except CredentialError as exc:
                self.report(str(exc))
            return typed
        return load_password(profile.name, profile.username)

    # ----- opening ---------------------------------------------------------------------------
    def open_profile(self, profile: ConnectionProfile, password: str | None = None, region: str = "",
                     audit_filters: tuple[str, ...] | None = None) -> BrokerEntry:
        """The entry for an unsaved connection (its password stored in the keychain when typed)."""
        return BrokerEntry(profile, self.password_for(profile, password), DEFAULT_SUBSCRIPTIONS, region, audit_filters)

    def open_stored(self, stored: StoredProfile, password: str | None = None, saved: bool | None = None) -> BrokerEntry:
        """The entry for a saved profile, with its region, colour and audit filters; ``saved`` says whether
        the workspace remembers it by name (default: whether the profiles file has it)."""
        if saved is None:
            saved = stored.name in self.load_profiles().profiles
        return BrokerEntry(stored.connection, self.password_for(stored.connection, password), DEFAULT_SUBSCRIPTIONS,
                           stored.region, stored.audit_filters, saved, stored.colour)

    def opened(self, connection: BrokerHandle, stored: StoredProfile | None) -> None:
        """After ``registry`` opened a saved profile's broker: its decoder rules (none clears earlier ones)."""
        if stored is not None:
            self.load_decoder_rules(connection.broker_id, stored)

    def reopened(self, connection: BrokerHandle) -> None:
        """A broker connected again: its saved profile's decoder rules as they read now (an edit takes effect)."""
        entry = self.registry.entry(connection.broker_id)
        if entry is None or not entry.stored:
            return
        store = self.load_profiles()
        if connection.broker_id in store.profiles:
            self.load_decoder_rules(connection.broker_id, store.get(connection.broker_id))

    def refresh(self, entry: BrokerEntry) -> BrokerEntry | None:
        """A broker from a saved profile, as the profile reads now (its password from the keychain)."""
        if not entry.stored:
            return None
        store = self.load_profiles()
        if entry.broker_id not in store.profiles:
            return None
        stored = store.get(entry.broker_id)
        password = self.password_for(stored.connection, None) or entry.password
        return BrokerEntry(stored.connection, password, entry.subscriptions, stored.region, stored.audit_filters,
                           True, stored.colour)

    def load_decoder_rules(self, broker_id: str, stored: StoredProfile) -> None:
        """The profile's decoder rules; ``.proto`` files compile on a worker thread."""
        workspace = self.registry.workspace
        if not stored.proto_paths:
            workspace.set_decoder_rules(broker_id, stored.decoder_rules)
            return
        connection = workspace.broker(broker_id)

        def compile_schemas() -> None:
            try:
                schemas = ProtoSchemas.from_paths(stored.proto_paths)
            except Exception as exc:  # noqa: BLE001 (any failure must reach the user, not end the thread)
                self.report(f"{broker_id}: the .proto files could not be loaded: {exc}")
                schemas = None
            if workspace.broker(broker_id) is connection:  # not a broker closed and opened again meanwhile
                workspace.set_decoder_rules(broker_id, stored.decoder_rules, schemas)

        threading.Thread(target=compile_schemas, name=f"proto-{broker_id}", daemon=True).start()

    # ----- the workspace kept for the next start ----------------------------------------------
    def saved_workspace(self) -> str | None:
        """The open brokers as JSON: saved profiles by name, others as profiles without passwords.
        None in a monitor: a --read-only run must not change the next normal start."""
        if self.registry.read_only:
            return None
        names = self.load_profiles().profiles
        saved: list[dict] = []
        for entry in self.registry.entries():
            if entry.profile.name == DEMO_BROKER or not self.registry.is_open(entry.broker_id):
                continue
            if entry.stored and entry.profile.name in names:
                saved.append({"profile": entry.profile.name})
            else:
                saved.append({"connection": entry.profile.to_dict(), "region": entry.region})
        return json.dumps(saved)

    def read_saved_workspace(self, text: str | None) -> list[SavedBroker]:
        """The brokers of a saved workspace (the format before profiles existed too). A damaged entry is
        reported and skipped; a damaged whole is reported and gives none."""
        try:
            items = json.loads(text or "[]")
            if not isinstance(items, list):
                raise ValueError("not a list")
        except (TypeError, ValueError) as exc:  # a hand-edited settings file must not stop start-up
            self.report(f"The saved workspace could not be read: {exc}")
            return []
        brokers = []
        for item in items:
            try:
                if isinstance(item, dict) and "profile" in item:
                    brokers.append(SavedBroker(profile_name=str(item["profile"])))
                else:  # an unsaved broker, or a workspace saved before profiles existed
                    data = item.get("connection", item) if isinstance(item, dict) else {}
                    region = str(item.get("region", "")) if isinstance(item, dict) else ""
                    brokers.append(SavedBroker(connection=ConnectionProfile.from_dict(data), region=region))
            except (TypeError, ValueError) as exc:
                self.report(f"A saved broker could not be opened: {exc}")
        return brokers
