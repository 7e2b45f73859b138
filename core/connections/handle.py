"""What the workspace holds for each broker, wherever its connection runs.

A broker is reached through one ``BrokerHandle``: ``connections/local.py`` runs the session, the
request tracker and the audit writer in this process (tests, headless commands); ``connections/remote.py``
runs them in the connection child process (the window). A ``BrokerConnector`` opens handles, and the
workspace is given one, so it never knows which kind it holds and never imports the child.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from eventscope.core.audit.store import DEFAULT_PAYLOAD_LIMIT
from eventscope.core.models.rate_meter import RateMeter
from eventscope.core.mqtt.ingest import IngestBuffer
from eventscope.core.mqtt.session import SessionBase
from eventscope.core.profile import DEFAULT_AUDIT_FILTERS, ConnectionProfile
from eventscope.core.requests.tracker import ReplyRouter


@dataclass(frozen=True, slots=True)
class AuditSettings:
    """Where a connection's audit recorder writes, and which filters it records (QoS 1).

    ``path`` is a SQLite file, or a ``postgresql://`` URL (the team audit; never with its password,
    which travels in ``db_password``, kept out of reprs and logs).
    """

    path: Path | str
    filters: tuple[str, ...] = DEFAULT_AUDIT_FILTERS
    max_bytes: int | None = None  # cap on the database file; past it, writes wait as on a full disk
    db_password: str | None = field(default=None, repr=False, compare=False)
    max_payload: int = DEFAULT_PAYLOAD_LIMIT  # payloads are kept whole up to this; longer ones are cut, flagged



def subscription_pairs(subscriptions) -> tuple[tuple[str, int], ...]:
    """Subscriptions given as filters (QoS 0) or (filter, QoS) pairs, as pairs."""
    return tuple((item, 0) if isinstance(item, str) else (str(item[0]), int(item[1])) for item in subscriptions)


class BrokerHandle(Protocol):
    """One broker of the workspace: its session, buffer, request tracker and audit recording."""

    broker_id: str
    profile: ConnectionProfile
    tracker: Any  # a RequestTracker, or the remote view of one: same calls
    region: str
    meter: RateMeter
    audit_path: Path | str | None  # a SQLite file or the team database's URL (no password)
    audit_notice: str
    closed: bool  # closing finished: no more audit results will arrive
    opened: Future  # done once the connection (and its audit recording) is set up, wherever it runs

    @property
    def session(self) -> SessionBase: ...  # read-only here: each implementation has its own kind

    @property
    def buffer(self) -> IngestBuffer: ...

    @property
    def recorder(self) -> Any: ...

    @property
    def dropped_elsewhere(self) -> int: ...

    def start_audit(self, settings: AuditSettings, password: str | None, region_level: int = 0) -> None: ...

    def stop_audit(self) -> list: ...

    def take_audit_results(self) -> list: ...

    def close(self) -> list:
        """Start closing (final audit commit and ack); returns the audit results so far. A handle whose
        connection runs elsewhere keeps delivering results through ``take_audit_results`` until ``closed``."""
        ...


class BrokerConnector(Protocol):
    """Opens broker handles for a workspace; ``close()`` ends whatever it started for them."""

    def open(self, broker_id: str, profile: ConnectionProfile, password: str | None, subscriptions: Iterable,
             audit: AuditSettings | None, region_level: int, buffer: IngestBuffer | None,
             router: ReplyRouter) -> BrokerHandle: ...

    def close(self) -> None: ...
