"""Loss, duplicates and reordering of one subscriber's stream, from the sequence numbers in the bench header.

Each publisher numbers its messages 0, 1, 2, ... For each publisher a receiver keeps the next
number it expects and the gaps it has seen (ranges of numbers skipped over, not yet arrived):

- the expected number: in order;
- a higher one: the numbers skipped become a gap (lost unless they arrive later);
- a lower one inside a gap: reordered (it arrived after a later message), and no longer lost;
- a lower one outside every gap: a duplicate (a second copy, as QoS 1 may deliver).

Gaps are ranges, so a long outage costs one entry, not one per message lost.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass


class PublisherStream:
    """What one subscriber has seen of one publisher's sequence."""

    __slots__ = ("next_expected", "received", "duplicates", "reordered", "_gap_starts", "_gap_ends", "_gap_total")

    def __init__(self, first_expected: int = 0) -> None:
        self.next_expected = first_expected
        self.received = 0  # every copy, duplicates included
        self.duplicates = 0
        self.reordered = 0
        # Sorted, disjoint ranges [start, end) of numbers skipped over and not seen since.
        self._gap_starts: list[int] = []
        self._gap_ends: list[int] = []
        self._gap_total = 0

    def note(self, sequence: int) -> None:
        self.received += 1
        expected = self.next_expected
        if sequence == expected:
            self.next_expected = sequence + 1
        elif sequence > expected:
            self._gap_starts.append(expected)
            self._gap_ends.append(sequence)
            self._gap_total += sequence - expected
            self.next_expected = sequence + 1
        elif self._fill(sequence):
            self.reordered += 1
        else:
            self.duplicates += 1

    def _fill(self, sequence: int) -> bool:
        """Take ``sequence`` out of the gap that holds it; False if no gap does."""
        index = bisect.bisect_right(self._gap_starts, sequence) - 1
        if index < 0 or sequence >= self._gap_ends[index]:
            return False
        start, end = self._gap_starts[index], self._gap_ends[index]
        self._gap_total -= 1
        if start == sequence and end == sequence + 1:
            del self._gap_starts[index], self._gap_ends[index]
        elif start == sequence:
            self._gap_starts[index] = sequence + 1
        elif end == sequence + 1:
            self._gap_ends[index] = sequence
        else:  # split the range around it
            self._gap_ends[index] = sequence
            self._gap_starts.insert(index + 1, sequence + 1)
            self._gap_ends.insert(index + 1, end)
        return True

    @property
    def missing(self) -> int:
        """Numbers skipped over that never arrived (the tail after the last one seen is not known here)."""
        return self._gap_total

    @property
    def gaps(self) -> int:
        """How many separate runs of numbers are missing."""
        return len(self._gap_starts)

    @property
    def unique(self) -> int:
        return self.received - self.duplicates


@dataclass(frozen=True, slots=True)
class StreamCounts:
    """A subscriber's totals over every publisher."""

    received: int = 0
    unique: int = 0
    lost: int = 0
    duplicates: int = 0
    reordered: int = 0
    gaps: int = 0

    def __add__(self, other: StreamCounts) -> StreamCounts:
        return StreamCounts(self.received + other.received, self.unique + other.unique, self.lost + other.lost,
                            self.duplicates + other.duplicates, self.reordered + other.reordered,
                            self.gaps + other.gaps)


class SequenceTracker:
    """Every publisher's stream as one subscriber sees it, by publisher id.

    ``from_zero``: each publisher's first message is number 0, so anything before the first one
    seen was lost (a bench that started the publishers itself). Otherwise the first number seen
    starts the stream (a subscriber that joined a running publisher).
    """

    def __init__(self, from_zero: bool = False) -> None:
        self.from_zero = from_zero
        self.streams: dict[bytes, PublisherStream] = {}

    def note(self, publisher: bytes, sequence: int) -> None:
        stream = self.streams.get(publisher)
        if stream is None:
            stream = self.streams[publisher] = PublisherStream(0 if self.from_zero else sequence)
        stream.note(sequence)

    def counts(self, sent: dict[bytes, int] | None = None) -> StreamCounts:
        """Totals. With ``sent`` (messages each publisher sent), what never arrived after the last
        message seen counts as lost too, and so does all of a publisher never heard from."""
        received = unique = lost = duplicates = reordered = gaps = 0
        for publisher, stream in self.streams.items():
            received += stream.received
            unique += stream.unique
            lost += stream.missing
            duplicates += stream.duplicates
            reordered += stream.reordered
            gaps += stream.gaps
            if sent is not None:
                tail = sent.get(publisher, 0) - stream.next_expected
                if tail > 0:
                    lost += tail
                    gaps += 1
        if sent is not None:
            for publisher, count in sent.items():
                if publisher not in self.streams and count > 0:
                    lost += count
                    gaps += 1
        return StreamCounts(received, unique, lost, duplicates, reordered, gaps)
