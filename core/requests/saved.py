"""Saved requests: the named requests a user keeps to send again, and the rules for reading them back.

Plain data in, plain data out: the window keeps the JSON text of ``SavedRequests.to_json()`` in its
settings and hands it back to ``SavedRequests.from_json()``. Entries are kept as they were stored, so a
damaged one (hand-edited settings, an older version) stays listed and can be deleted; it is only checked
when it is loaded, and then refused with a ``DamagedSavedRequest`` that says why.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from eventscope.core.requests.tracker import DEFAULT_TIMEOUT

DEFAULT_TEMPLATE = "{region}/hello/request"


class DamagedSavedRequest(ValueError):
    """A saved request that cannot be loaded; the message says which one and why."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"The saved request {name!r} is damaged and was not loaded: {reason}")
        self.name = name
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SavedRequest:
    """Everything the request composer and its options hold, as saved under a name."""

    template: str = DEFAULT_TEMPLATE
    region: str = ""
    payload: str = ""
    qos: int = 0
    reply_topic: str = ""  # empty: the session's default reply topic
    timeout: float = DEFAULT_TIMEOUT
    content_type: str = ""
    message_expiry: int = 0  # seconds; 0 is none
    user_properties: tuple[tuple[str, str], ...] = ()

    def to_plain(self) -> dict:
        """The JSON-able form, with the keys saved requests have always been stored under."""
        return {
            "template": self.template, "region": self.region, "payload": self.payload, "qos": self.qos,
            "reply_topic": self.reply_topic, "timeout": self.timeout, "content_type": self.content_type,
            "message_expiry": self.message_expiry, "user_properties": [list(pair) for pair in self.user_properties],
        }

    @classmethod
    def from_plain(cls, data: Mapping) -> SavedRequest:
        """Read a stored entry; a missing key takes its default. Raises ``TypeError``, ``ValueError`` or
        ``OverflowError`` (an infinite number) for a value that cannot be what it stands for."""
        qos = int(data.get("qos", 0))
        timeout = float(data.get("timeout", DEFAULT_TIMEOUT))
        expiry = int(data.get("message_expiry", 0))
        properties = tuple((str(key), str(value)) for key, value in data.get("user_properties", []))
        if not 0 <= qos <= 2:
            raise ValueError(f"QoS {qos}")
        return cls(template=str(data.get("template", DEFAULT_TEMPLATE)), region=str(data.get("region", "")),
                   payload=str(data.get("payload", "")), qos=qos, reply_topic=str(data.get("reply_topic", "")),
                   timeout=timeout, content_type=str(data.get("content_type", "")), message_expiry=expiry,
                   user_properties=properties)


class SavedRequests:
    """The saved requests, by name. Entries stay as stored until one is saved over or deleted."""

    def __init__(self, entries: Mapping[str, dict] | None = None) -> None:
        self._entries: dict[str, dict] = dict(entries or {})

    @classmethod
    def from_plain(cls, value: object) -> SavedRequests:
        """From a stored ``{name: entry}`` mapping; anything else, and any entry that is no mapping, is
        dropped: damaged settings cost their saved requests, never the window."""
        if not isinstance(value, dict):
            return cls()
        return cls({str(name): entry for name, entry in value.items() if isinstance(entry, dict)})

    @classmethod
    def from_json(cls, text: object) -> SavedRequests:
        """From the stored JSON text; empty, unreadable or non-text settings values give no saved requests."""
        if not text or not isinstance(text, (str, bytes, bytearray)):
            return cls()
        try:
            return cls.from_plain(json.loads(text))
        except ValueError:
            return cls()

    def to_plain(self) -> dict[str, dict]:
        return {name: dict(entry) for name, entry in self._entries.items()}

    def to_json(self) -> str:
        return json.dumps(self._entries)

    def names(self) -> list[str]:
        """The names in the order the list shows them."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, name: str) -> SavedRequest | None:
        """The request saved as ``name``, None if there is none; raises ``DamagedSavedRequest`` if it
        cannot be read."""
        entry = self._entries.get(name)
        if entry is None:
            return None
        try:
            return SavedRequest.from_plain(entry)
        except (TypeError, ValueError, OverflowError) as exc:
            raise DamagedSavedRequest(name, str(exc)) from exc

    def save(self, name: str, request: SavedRequest) -> None:
        """Save ``request`` as ``name``, replacing one saved under that name before."""
        if not name.strip():
            raise ValueError("a saved request needs a name")
        self._entries[name] = request.to_plain()

    def delete(self, name: str) -> bool:
        """Forget ``name``; False if nothing was saved under it."""
        return self._entries.pop(name, None) is not None
