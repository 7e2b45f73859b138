"""The tool's own ceiling: when the publishers missed their rate, was it their CPU or the broker?

A publisher's time is spent in its own code (encoding, bookkeeping, waiting for the interpreter
lock), in ``sendall`` (which blocks once the broker stops reading and the socket buffers fill),
waiting for acknowledgements (QoS 1/2), or pacing. Time blocked on the broker outweighing time in
its own code means the broker or the network set the pace; otherwise the tool did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eventscope.core.bench.publisher import PublisherStats

REACHED_FRACTION = 0.97  # of the offered rate, after which a run counts as having reached it


@dataclass(frozen=True, slots=True)
class Ceiling:
    reached: bool | None  # None: flat out, nothing was offered
    limit: str | None  # "publisher", "broker", or None when the offered rate was reached
    busy: float  # fractions of the publishers' sending time
    blocked: float
    cpu: float

    @property
    def text(self) -> str:
        shares = (f"publisher busy {self.busy:.0%}, waiting for the broker {self.blocked:.0%}, "
                  f"publisher CPU {self.cpu:.0%}")
        if self.limit is None:
            return f"offered rate reached ({shares})"
        if self.limit == "broker":
            what = "the broker/network (it did not take the data any faster)"
        else:
            what = "the tool itself (publisher CPU)"
        prefix = "limited by" if self.reached is None else "offered rate NOT reached, limited by"
        return f"{prefix} {what} ({shares})"


def assess(stats: Sequence[PublisherStats], offered_rate: float, send_rate: float) -> Ceiling:
    elapsed = sum(s.elapsed for s in stats)
    if elapsed <= 0:
        return Ceiling(None if not offered_rate else False, None, 0.0, 0.0, 0.0)
    busy = sum(s.busy_seconds for s in stats) / elapsed
    blocked = sum(s.blocked_seconds for s in stats) / elapsed
    cpu = sum(s.cpu_seconds for s in stats) / elapsed
    if offered_rate > 0 and send_rate >= REACHED_FRACTION * offered_rate:
        return Ceiling(True, None, busy, blocked, cpu)
    limit = "broker" if blocked > busy else "publisher"
    return Ceiling(False if offered_rate > 0 else None, limit, busy, blocked, cpu)
