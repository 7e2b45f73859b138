"""Which audit store a location names: a file path (SQLite on this computer, the default) or a
``postgresql://`` URL (the team audit on PostgreSQL). Both stores take the same calls."""

from __future__ import annotations

import threading
from pathlib import Path

from eventscope.core.audit.postgres import PostgresAuditStore, is_postgres_url, mask_url
from eventscope.core.audit.store import AuditStore

AnyAuditStore = AuditStore | PostgresAuditStore


def open_store(location: str | Path, password: str | None = None, shared: bool = False,
               **options) -> AnyAuditStore | SharedSqliteStore:
    """A store to record into. ``options`` are the SQLite store's (``max_rows`` has no meaning on a server,
    whose retention is by whole days: ``max_age_seconds``).

    ``shared``: every broker of a workspace records into one SQLite file; they share one store (one
    connection, batches in turn) instead of contending for the file's lock from several connections.
    Close each handle; the store closes with the last one. A server has no such lock: each gets its own.
    """
    if is_postgres_url(location):
        if options.pop("max_rows", None) is not None:
            raise ValueError("--max-rows is for a SQLite file; the team audit keeps whole days (--max-age)")
        options.pop("max_bytes", None)
        return PostgresAuditStore(str(location), password, **options)
    if not shared:
        return AuditStore(Path(location), **options)
    key = (Path(location).resolve(), tuple(sorted(options.items())))
    with _SHARED_LOCK:
        entry = _SHARED.get(key)
        if entry is None:
            entry = _SHARED[key] = _SharedEntry(AuditStore(Path(location), **options))
        entry.users += 1
        return SharedSqliteStore(key, entry.store)


class _SharedEntry:
    def __init__(self, store: AuditStore) -> None:
        self.store = store
        self.users = 0


_SHARED_LOCK = threading.Lock()
_SHARED: dict[tuple, _SharedEntry] = {}


class SharedSqliteStore:
    """One user's handle on a SQLite store shared within this process: every call goes to the store
    (which lets its writers take turns); ``close`` lets go, and the last one closes the store."""

    def __init__(self, key: tuple, store: AuditStore) -> None:
        self._key = key
        self._store = store
        self._closed = False

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    @property
    def shared_store(self) -> AuditStore:
        return self._store

    def close(self) -> None:
        with _SHARED_LOCK:
            if self._closed:
                return
            self._closed = True
            entry = _SHARED[self._key]
            entry.users -= 1
            if entry.users:
                return
            del _SHARED[self._key]
        self._store.close()


def open_reader(location: str | Path, region_level: int = 0, password: str | None = None,
                snapshot: bool = False) -> AnyAuditStore:
    """A store to read (export, a feed): it never creates, moves or repairs anything."""
    if is_postgres_url(location):
        return PostgresAuditStore.open_reader(str(location), region_level, password)
    return AuditStore.open_reader(Path(location), region_level, snapshot=snapshot)


def shown(location: str | Path) -> str:
    """A location as it may be shown or logged (a URL without its password)."""
    return mask_url(str(location)) if is_postgres_url(location) else str(location)
