"""Which audit store a location names: a file path (SQLite on this computer, the default) or a
``postgresql://`` URL (the team audit on PostgreSQL). Both stores take the same calls."""

from __future__ import annotations

from pathlib import Path

from eventscope.core.audit.postgres import PostgresAuditStore, is_postgres_url, mask_url
from eventscope.core.audit.store import AuditStore

AnyAuditStore = AuditStore | PostgresAuditStore


def open_store(location: str | Path, password: str | None = None, **options) -> AnyAuditStore:
    """A store to record into. ``options`` are the SQLite store's (``max_rows`` has no meaning on a server,
    whose retention is by whole days: ``max_age_seconds``)."""
    if is_postgres_url(location):
        if options.pop("max_rows", None) is not None:
            raise ValueError("--max-rows is for a SQLite file; the team audit keeps whole days (--max-age)")
        options.pop("max_bytes", None)
        return PostgresAuditStore(str(location), password, **options)
    return AuditStore(Path(location), **options)


def open_reader(location: str | Path, region_level: int = 0, password: str | None = None,
                snapshot: bool = False) -> AnyAuditStore:
    """A store to read (export, a feed): it never creates, moves or repairs anything."""
    if is_postgres_url(location):
        return PostgresAuditStore.open_reader(str(location), region_level, password)
    return AuditStore.open_reader(Path(location), region_level, snapshot=snapshot)


def shown(location: str | Path) -> str:
    """A location as it may be shown or logged (a URL without its password)."""
    return mask_url(str(location)) if is_postgres_url(location) else str(location)
