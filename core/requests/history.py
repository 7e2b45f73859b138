"""The requests a user sent, kept across restarts in a small JSON file.

One entry per request sent from the window: what was asked, how it ended (ok, timeout,
error, uncorrelated), the RTT and the reply size. Writes are atomic (temp file + rename),
so a crash never leaves half a file. Requests are user-paced, so rewriting the capped file
on each one is cheap.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from platformdirs import user_data_dir

from eventscope.core.payload_text import decode_from_export, encode_for_export

log = logging.getLogger(__name__)

DEFAULT_MAX_ENTRIES = 500
HISTORY_FILE_NAME = "request_history.json"
STATUSES = ("ok", "timeout", "error", "uncorrelated")


def default_history_path() -> Path:
    return Path(user_data_dir("eventscope")) / HISTORY_FILE_NAME


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One request and its outcome. ``rtt`` in seconds (None without a reply)."""

    sent_at: float
    topic: str
    payload: str  # text, or base64 when payload_encoding says so
    status: str
    payload_encoding: str = "utf-8"
    qos: int = 0
    reply_topic: str = ""
    rtt: float | None = None
    reply_size: int | None = None
    correlation_id: str = ""
    detail: str = ""  # the error message, for timeout/error
    broker: str = ""  # the broker the request left on
    reply_broker: str = ""  # the broker its reply came back on
    region: str = ""  # the region its topic template named ({region}); empty when the topic names none

    @classmethod
    def create(cls, topic: str, payload: bytes, status: str, **fields_) -> HistoryEntry:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        text, encoding = encode_for_export(payload)
        return cls(sent_at=fields_.pop("sent_at", time.time()), topic=topic, payload=text, status=status,
                   payload_encoding=encoding, **fields_)

    @property
    def payload_bytes(self) -> bytes:
        return decode_from_export(self.payload, self.payload_encoding)


_FIELD_NAMES = {f.name for f in fields(HistoryEntry)}


class RequestHistory:
    """An ordered, capped list of ``HistoryEntry`` (oldest first) mirrored to ``path``."""

    def __init__(self, path: Path | str | None = None, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.path = Path(path) if path is not None else default_history_path()
        self.max_entries = max_entries
        self._entries: list[HistoryEntry] = self._load()

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, row: int) -> HistoryEntry:
        return self._entries[row]

    def entries(self) -> list[HistoryEntry]:
        return list(self._entries)

    def add(self, entry: HistoryEntry) -> None:
        """Append and save; the oldest entries beyond ``max_entries`` are dropped first."""
        self._entries.append(entry)
        del self._entries[: max(0, len(self._entries) - self.max_entries)]
        self.save()

    def drop_oldest(self, count: int) -> None:
        del self._entries[:count]

    def save(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temp = self.path.with_suffix(".tmp")
            temp.write_text(json.dumps([asdict(e) for e in self._entries], ensure_ascii=False), encoding="utf-8")
            os.replace(temp, self.path)
        except OSError as exc:  # history is a convenience: never fail a request over it
            log.warning("cannot save the request history to %s: %s", self.path, exc)

    def _load(self) -> list[HistoryEntry]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            log.warning("ignoring an unreadable request history %s: %s", self.path, exc)
            return []
        entries = []
        for item in raw if isinstance(raw, list) else []:
            try:
                entries.append(HistoryEntry(**{k: v for k, v in item.items() if k in _FIELD_NAMES}))
            except (TypeError, AttributeError):
                continue
        return entries[-self.max_entries:]
