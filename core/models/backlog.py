"""Whether a broker sends faster than its messages are read and shown, and how far behind that leaves them.

Two places fill up when the window cannot keep up: the connection's socket (bytes that arrived at this
machine and are not yet read, past which the broker queues or drops for this client), and the buffer of
records read but not yet applied to the views. A short burst fills both for a moment; falling behind is
when one of them stays full, so the watch needs a backlog for ``BEHIND_AFTER`` seconds before it says so,
and none for ``CAUGHT_UP_AFTER`` seconds before it takes it back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

BEHIND_UNREAD_BYTES = 64 * 1024  # unread in the socket: a reader that keeps up leaves less than one read's worth
BEHIND_WAITING_SECONDS = 1.0  # read but not applied: more than this much of the current rate
BEHIND_WAITING_FLOOR = 10_000  # records; a slow broker's second of messages is no backlog
BEHIND_AFTER = 1.0  # seconds a backlog must last before the broker is said to fall behind
CAUGHT_UP_AFTER = 2.0  # seconds without one before that is taken back


def _mib(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB" if size >= 2**20 else f"{size / 1024:,.0f} KiB"


@dataclass(frozen=True, slots=True)
class Backlog:
    """One broker's backlog at the end of a tick."""

    unread_bytes: int = 0  # arrived in the connection's socket, not yet read
    waiting: int = 0  # records read, not yet applied to the views
    seconds: float = 0.0  # how long the current rate takes to work through both (inf: nothing is read)
    falling_behind: bool = False

    @property
    def text(self) -> str:
        """A few words for the broker's row ("" unless falling behind)."""
        if not self.falling_behind:
            return ""
        if math.isinf(self.seconds):
            return f"falling behind: {_mib(self.unread_bytes)} unread"
        return f"falling behind ~{self.seconds:,.1f} s"

    @property
    def detail(self) -> str:
        """The whole story, for a tooltip."""
        if not self.falling_behind:
            return ""
        parts = []
        if self.unread_bytes:
            parts.append(f"{_mib(self.unread_bytes)} wait unread in the connection's socket")
        if self.waiting:
            parts.append(f"{self.waiting:,} messages wait to be shown")
        behind = "" if math.isinf(self.seconds) else f" At the current rate that is about {self.seconds:,.1f} s of traffic."
        return (f"This broker sends faster than Eventscope reads: {' and '.join(parts)}.{behind} Past what the "
                "socket holds, the broker queues messages for this client, and may drop QoS 0 ones under its own "
                "limits. Streams and the tree keep showing what arrives; the Dropped column counts anything "
                "Eventscope itself had to drop.")


class BacklogWatch:
    """Turns one broker's backlog, sampled every tick, into a ``Backlog`` that does not flicker."""

    __slots__ = ("_over_since", "_under_since", "_behind", "_per_message", "_mark")

    def __init__(self) -> None:
        self._over_since: float | None = None
        self._under_since: float | None = None
        self._behind = False
        self._per_message = 0.0  # socket bytes per message received, over the last second or more
        self._mark: tuple[int, int, float] | None = None  # (bytes read, messages received, when)

    def update(self, unread_bytes: int, bytes_read: int, received: int, waiting: int, rate: float,
               now: float) -> Backlog:
        """``bytes_read`` and ``received`` are running totals (socket bytes, messages); ``rate`` is messages
        applied per second; ``waiting`` records read and not yet applied."""
        self._measure_message_size(bytes_read, received, now)
        over = (unread_bytes >= BEHIND_UNREAD_BYTES
                or waiting >= max(BEHIND_WAITING_FLOOR, rate * BEHIND_WAITING_SECONDS))
        if over:
            self._under_since = None
            if self._over_since is None:
                self._over_since = now
            if now - self._over_since >= BEHIND_AFTER:
                self._behind = True
        else:
            self._over_since = None
            if self._under_since is None:
                self._under_since = now
            if now - self._under_since >= CAUGHT_UP_AFTER:
                self._behind = False
        per_message = self._per_message or (bytes_read / received if bytes_read and received else 0.0)
        messages = waiting + (unread_bytes / per_message if per_message > 0 else 0)
        seconds = messages / rate if rate > 0 else (math.inf if waiting or unread_bytes else 0.0)
        return Backlog(unread_bytes, waiting, seconds, self._behind)

    def _measure_message_size(self, bytes_read: int, received: int, now: float) -> None:
        mark = self._mark
        if mark is None or bytes_read < mark[0] or received < mark[1]:  # the first sample, or a new socket
            self._mark = (bytes_read, received, now)
            return
        if now - mark[2] >= 1.0 and received > mark[1] and bytes_read > mark[0]:
            self._per_message = (bytes_read - mark[0]) / (received - mark[1])
            self._mark = (bytes_read, received, now)
