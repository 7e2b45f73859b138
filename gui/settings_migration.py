"""Earlier versions kept one broker's connection in scattered QSettings keys; move it into a profile.

Run once at start-up: the keys become a named profile in the profiles file (shared with the
CLI) and are removed from the settings. No password was ever stored there.
"""

from __future__ import annotations

from eventscope.core.profile import ConnectionProfile, TlsSettings, parse_broker_address
from eventscope.core.profiles.store import ProfileError, ProfileStore, StoredProfile

LEGACY_GROUP = "connection"
_ADVANCED = "connection/advanced/"


def migrate_connection_settings(settings, store: ProfileStore) -> str | None:
    """Turn the legacy ``connection/*`` keys into a profile. Returns its name, or None if there was nothing."""
    if not any(key.startswith(LEGACY_GROUP + "/") for key in settings.allKeys()):
        return None
    recent = settings.value("connection/recent", []) or []
    if isinstance(recent, str):
        recent = [recent]
    name = None
    if recent:
        try:
            profile = _profile_from(settings, recent[0])
        except ValueError:  # an address that never parsed: nothing worth keeping
            profile = None
        if profile is not None:
            name = profile.name
            if name not in store.profiles:
                try:
                    store.put(StoredProfile(profile))
                except ProfileError:
                    return None  # keep the keys for the next start
    settings.remove(LEGACY_GROUP)
    return name


def _profile_from(settings, address: str) -> ConnectionProfile:
    host, port, tls_from_url, transport = parse_broker_address(address)
    value = settings.value
    return ConnectionProfile(
        name=f"{host}:{port}", host=host, port=port, transport=transport,
        ws_path=value(_ADVANCED + "ws_path", "/mqtt") or "/mqtt",
        tls=TlsSettings(enabled=value("connection/tls", False, type=bool) or tls_from_url,
                        verify=value("connection/tls_verify", True, type=bool),
                        ca_file=value(_ADVANCED + "ca_file", "") or "", cert_file=value(_ADVANCED + "cert_file", "") or "",
                        key_file=value(_ADVANCED + "key_file", "") or ""),
        username=value("connection/username", "") or "", mqtt_version=int(value("connection/mqtt_version", 5)),
        read_only=value("connection/read_only", False, type=bool), client_id=value(_ADVANCED + "client_id", "") or "",
        keepalive=int(value(_ADVANCED + "keepalive", 30)), clean_start=value(_ADVANCED + "clean_start", True, type=bool),
        session_expiry=int(value(_ADVANCED + "session_expiry", 0)))
