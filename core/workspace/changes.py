"""One tick's changes, as immutable values: what the window turns into Qt notifications.

Every view reads its part of one ``ChangeSummary`` per frame. Streams and the audit carry their
rows themselves (deltas), so the window never reads a model the tick thread is writing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eventscope.core.audit.store import AuditRow, ReplyPairing, Sighting
from eventscope.core.models.backlog import Backlog
from eventscope.core.models.region_stats import RegionCount
from eventscope.core.models.topic_forest import ForestChanges
from eventscope.core.mqtt.session import SessionStatus
from eventscope.core.records import MessageRecord


@dataclass(frozen=True, slots=True)
class BrokerSummary:
    """One broker's state at the end of a tick."""

    broker_id: str
    status: SessionStatus
    received: int
    dropped: int
    buffered: int
    messages_per_second: float
    retained_seen: int = 0  # retained messages its tree received
    audit: AuditState | None = None  # where it records; changes arrive here, not as a blocking answer
    backlog: Backlog = Backlog()  # what waits to be read and shown, and whether it is falling behind

    @property
    def behind(self) -> tuple[Backlog, ...]:
        """The backlogs that fall behind: the views', the audit's, or both."""
        audit = self.audit.backlog if self.audit is not None else None
        return tuple(b for b in (self.backlog, audit) if b is not None and b.falling_behind)


@dataclass(frozen=True, slots=True)
class AuditState:
    """A broker's audit recording as last reported: its database, whether it records, and why not."""

    path: Path | str | None  # a SQLite file or the team database's URL
    recording: bool
    notice: str = ""
    warning: str = ""  # the writer's current trouble: writes failing, or waiting for another recorder
    waiting: bool = False  # the writer waits for another recorder of its database and broker
    backlog: Backlog = Backlog(audit=True)  # what waits to be written, and whether the writer falls behind


@dataclass(frozen=True, slots=True)
class StreamDelta:
    """What one tick did to a stream's visible rows.

    Apply in this order: if ``reset`` is not None, replace every row with it; then remove
    ``evicted`` rows from the front; then append ``appended``.
    """

    stream_id: int
    reset: tuple[MessageRecord, ...] | None = None
    evicted: int = 0
    appended: tuple[MessageRecord, ...] = ()
    paused: bool = False
    waiting: int = 0
    new_regions: tuple[str, ...] = ()
    regions: tuple[RegionCount, ...] = ()

    @property
    def changes_rows(self) -> bool:
        return self.reset is not None or bool(self.evicted or self.appended)


@dataclass(frozen=True, slots=True)
class AuditDelta:
    """What one broker's audit writer committed since the last tick.

    ``complete`` is False when rows were held back (the window fell far behind): the feed then
    reads what it missed from the store.
    """

    broker_id: str
    path: Path | str  # a SQLite file or the team database's URL
    rows: tuple[AuditRow, ...] = ()
    pairings: tuple[ReplyPairing, ...] = ()
    sightings: tuple[Sighting, ...] = ()  # stored messages seen again on this broker (the mesh path)
    committed: int = 0
    duplicates: int = 0
    complete: bool = True
    warning: str = ""
    pending: int = 0
    waiting: bool = False  # the writer waits for another recorder (``warning`` says which)


@dataclass(frozen=True, slots=True)
class ChangeSummary:
    """Everything one tick changed. The window reads it; nothing in it changes afterwards.

    ``tree`` lists node objects; ``new_regions`` are first topic levels seen for the first time.
    """

    tick: int
    messages: int
    tree: ForestChanges  # one entry per broker root and node
    new_regions: tuple[str, ...] = ()
    streams: tuple[StreamDelta, ...] = ()
    audit: tuple[AuditDelta, ...] = ()
    brokers: tuple[BrokerSummary, ...] = ()
    messages_per_second: float = 0.0
    duration: float = 0.0  # seconds the tick took
    # The tick's merged records, in arrival order: only from a ``Workspace(keep_records=True)`` (headless commands).
    records: tuple[MessageRecord, ...] = ()

    def stream_deltas(self, stream_id: int) -> list[StreamDelta]:
        """This stream's deltas, in the order to apply them (more than one only in a merged summary)."""
        return [delta for delta in self.streams if delta.stream_id == stream_id]

    def broker(self, broker_id: str) -> BrokerSummary | None:
        for summary in self.brokers:
            if summary.broker_id == broker_id:
                return summary
        return None

    @property
    def dropped(self) -> int:
        return sum(b.dropped for b in self.brokers)

    @property
    def received(self) -> int:
        return sum(b.received for b in self.brokers)

    @property
    def buffered(self) -> int:
        return sum(b.buffered for b in self.brokers)


def chain_changes(first: ForestChanges, second: ForestChanges) -> ForestChanges:
    """Two applies in one tick, in order, as one set of changes (as merging two ticks does)."""
    return ForestChanges(inserted=first.inserted + second.inserted, created=first.created + second.created,
                         updated=first.updated + second.updated, messages=first.messages + second.messages,
                         pruned=first.pruned + second.pruned, removed=first.removed + second.removed)


def merge_summaries(first: ChangeSummary | None, second: ChangeSummary) -> ChangeSummary:
    """Two consecutive summaries as one; stream deltas stay separate and in order."""
    if first is None:
        return second
    tree = chain_changes(first.tree, second.tree)
    return ChangeSummary(second.tick, first.messages + second.messages, tree, first.new_regions + second.new_regions,
                         first.streams + second.streams, first.audit + second.audit, second.brokers,
                         second.messages_per_second, first.duration + second.duration, first.records + second.records)
