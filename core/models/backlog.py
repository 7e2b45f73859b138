"""Whether a broker sends faster than its messages are read and shown, and for how long.

Three things show it. The connection reads flat out: almost every read of its socket finds a large
backlog waiting (a reader that keeps up finds a little each time). Bytes wait unread in the socket
(past what it holds, the broker queues or drops for this client). Records read but not yet applied
to the views pile up. A short burst does each of these for a moment; falling behind is when one of
them lasts, so the watch needs one for ``BEHIND_AFTER`` seconds before it says so, and none for
``CAUGHT_UP_AFTER`` seconds before it takes it back.

A broker's audit recorder falls behind when its writer is the limit: it spends nearly all its time
writing, or its reader has to wait for room. Nothing is acknowledged before it is written, so the
broker holds the rest (its in-flight window to the audit is usually small: Mosquitto's is 20).
"""

from __future__ import annotations

from dataclasses import dataclass

BEHIND_UNREAD_BYTES = 64 * 1024  # unread in the socket: more than one read's worth, all the time
FLAT_OUT_SHARE = 0.8  # of a second's reads that found a backlog (or of an audit's second spent writing)
FLAT_OUT_MIN_READS = 20  # in that second; fewer is a quiet connection
BEHIND_WAITING_SECONDS = 1.0  # read but not applied: more than this much of the current rate
BEHIND_WAITING_FLOOR = 10_000  # records; a slow broker's second of messages is no backlog
READING_WINDOW = 1.0  # seconds over which the share of large reads is taken
BEHIND_AFTER = 1.0  # seconds a backlog must last before the broker is said to fall behind
CAUGHT_UP_AFTER = 2.0  # seconds without one before that is taken back


def _size(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB" if size >= 2**20 else f"{size / 1024:,.0f} KiB"


def _duration(seconds: float) -> str:
    return f"{seconds:,.0f} s" if seconds < 120 else f"{seconds / 60:,.0f} min"


@dataclass(frozen=True, slots=True)
class Backlog:
    """One broker's backlog at the end of a tick."""

    unread_bytes: int = 0  # arrived in the connection's socket, not yet read
    waiting: int = 0  # records read, not yet applied to the views
    flat_out: bool = False  # the connection's reads found a backlog nearly every time over the last second
    falling_behind: bool = False
    behind_for: float = 0.0  # seconds since it started falling behind
    audit: bool = False  # the backlog of the broker's audit recorder, not of its views
    blocked: bool = False  # the audit's connection waited for room: its reader stopped until a commit
    writing_flat_out: bool = False  # the audit's writer spent nearly all of the last second writing

    @property
    def text(self) -> str:
        """A few words for the broker's row ("" unless falling behind)."""
        if not self.falling_behind:
            return ""
        return f"{'audit ' if self.audit else ''}falling behind for {_duration(self.behind_for)}"

    @property
    def detail(self) -> str:
        """The whole story, for a tooltip."""
        if not self.falling_behind:
            return ""
        now = self._causes()
        if self.audit:
            return (f"For {_duration(self.behind_for)} this broker has sent the audited messages faster than the "
                    f"audit writes them: {now}. Nothing is acknowledged before it is written, so the broker keeps "
                    "the rest in the audit's session, up to its own queue limit (Mosquitto: max_queued_messages); "
                    "past that limit the broker drops them.")
        return (f"For {_duration(self.behind_for)} this broker has sent faster than Eventscope reads: {now}. The "
                "broker queues the rest for this client, and may drop QoS 0 messages under its own limits. "
                "Streams and the tree keep showing what arrives; the Dropped column counts anything Eventscope "
                "itself had to drop.")

    def _causes(self) -> str:
        socket = "its socket" if self.audit else "the connection's socket"
        causes = (
            (self.writing_flat_out, "writing takes all its time"),
            (self.flat_out, "its connection reads flat out"),
            (self.unread_bytes, f"{_size(self.unread_bytes)} wait unread in {socket}"),
            (self.waiting, f"{self.waiting:,} messages wait to be {'written' if self.audit else 'shown'}"),
            (self.blocked, "its connection waits for room before it reads on"),
        )
        return ", ".join(text for present, text in causes if present) or "it is catching up"


class BacklogWatch:
    """Turns one broker's backlog, sampled every tick, into a ``Backlog`` that does not flicker."""

    __slots__ = ("_over_since", "_under_since", "_behind_since", "_flat_out", "_mark", "_stalls", "audit",
                 "_writing_flat_out", "_write_mark")

    def __init__(self, audit: bool = False) -> None:
        self.audit = audit  # watching an audit recorder (whose reader stalls when its writer lags)
        self._stalls = 0  # the last running total of reads that waited for room
        self._writing_flat_out = False
        self._write_mark: tuple[float, float] | None = None  # (seconds written, when) at the window's start
        self._over_since: float | None = None
        self._under_since: float | None = None
        self._behind_since: float | None = None
        self._flat_out = False  # the last reading window's verdict
        self._mark: tuple[int, int, float] | None = None  # (reads, large reads, when) at the window's start

    def update(self, now: float, unread_bytes: int = 0, reads: int = 0, full_reads: int = 0, waiting: int = 0,
               rate: float = 0.0, stalls: int = 0, writing: float = 0.0) -> Backlog:
        """``reads`` and ``full_reads`` are the socket's running totals (reads, and reads that found a backlog);
        ``waiting`` is records read and not yet applied (or written); ``rate`` messages applied per second.
        An audit's: ``stalls``, the running total of records whose reader had to wait for room, and
        ``writing``, of seconds its writer spent writing."""
        self._measure_reads(reads, full_reads, now)
        self._measure_writing(writing, now)
        blocked = stalls > self._stalls
        self._stalls = stalls
        over = (self._flat_out or self._writing_flat_out or blocked or unread_bytes >= BEHIND_UNREAD_BYTES
                or waiting >= max(BEHIND_WAITING_FLOOR, rate * BEHIND_WAITING_SECONDS))
        if over:
            self._under_since = None
            if self._over_since is None:
                self._over_since = now
            if self._behind_since is None and now - self._over_since >= BEHIND_AFTER:
                self._behind_since = self._over_since
        else:
            self._over_since = None
            if self._under_since is None:
                self._under_since = now
            if now - self._under_since >= CAUGHT_UP_AFTER:
                self._behind_since = None
        since = self._behind_since
        return Backlog(unread_bytes, waiting, self._flat_out, since is not None,
                       now - since if since is not None else 0.0, self.audit, blocked, self._writing_flat_out)

    def _measure_reads(self, reads: int, full_reads: int, now: float) -> None:
        mark = self._mark
        if mark is None or reads < mark[0]:  # the first sample, or a new socket
            self._mark = (reads, full_reads, now)
            return
        if now - mark[2] >= READING_WINDOW:
            count, full = reads - mark[0], full_reads - mark[1]
            self._flat_out = count >= FLAT_OUT_MIN_READS and full >= FLAT_OUT_SHARE * count
            self._mark = (reads, full_reads, now)

    def _measure_writing(self, writing: float, now: float) -> None:
        mark = self._write_mark
        if mark is None or writing < mark[0]:  # the first sample, or a new writer
            self._write_mark = (writing, now)
            return
        if now - mark[1] >= READING_WINDOW:
            self._writing_flat_out = writing - mark[0] >= FLAT_OUT_SHARE * (now - mark[1])
            self._write_mark = (writing, now)
