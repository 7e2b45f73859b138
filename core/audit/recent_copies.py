"""The content hashes of the audit's recent rows, held in memory for the mesh check.

A message bridged across the mesh arrives on each broker within seconds, so a new row is a copy
when a row with its content hash was stored in the last ``window`` seconds. An index on the hash
answered that, but its random keys dirtied index pages all over the file in every commit, and the
cost grew with the database. These rows are instead kept here for the store's one writing connection:

- its own rows are added as each batch is written;
- rows that other connections wrote to the same file (another process recording another broker)
  are read back by id before each batch: ids only grow, so that is a short range scan;
- rows older than the window are forgotten, a run at a time.

Rows are kept in runs of up to a second, each sorted by hash in numpy arrays (26 bytes a row, where
a dict of Python objects took 560), and a batch's hashes are looked up in every run at once.
``covered_since`` is the time from which every stored row is here; a batch that reaches further
back (the first one, or one of old records) has the store read that span again from its
``received`` index.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

CopiesByBroker = dict[str, list[tuple[int, float]]]  # per broker, (row id, received) in id order
# A batch joins the newest run while that run spans less than a second and holds fewer rows than this, so
# joining (a copy and a merge of the run) stays a small cost per batch however fast rows come.
RUN_SECONDS = 1.0
RUN_ROWS = 32_768


@dataclass(slots=True)
class _Run:
    """Consecutive rows, sorted by hash; equal hashes stay in id order."""

    hashes: np.ndarray  # int64
    ids: np.ndarray  # int64
    received: np.ndarray  # float64
    brokers: np.ndarray  # int16, an index into RecentCopies' broker names
    oldest: float
    newest: float

    @classmethod
    def of(cls, hashes: Sequence[int] | np.ndarray, ids: Sequence[int] | np.ndarray,
           received: Sequence[float] | np.ndarray, brokers: Sequence[int] | np.ndarray, presorted: bool = False) -> _Run:
        columns = (np.asarray(hashes, dtype=np.int64), np.asarray(ids, dtype=np.int64),
                   np.asarray(received, dtype=np.float64), np.asarray(brokers, dtype=np.int16))
        if not presorted:
            order = np.argsort(columns[0], kind="stable")  # timsort: two sorted runs merge in one pass
            columns = tuple(column[order] for column in columns)
        hashes_, ids_, received_, brokers_ = columns
        return cls(hashes_, ids_, received_, brokers_, float(received_.min()), float(received_.max()))

    def joined(self, other: _Run) -> _Run:
        return _Run.of(np.concatenate((self.hashes, other.hashes)), np.concatenate((self.ids, other.ids)),
                       np.concatenate((self.received, other.received)), np.concatenate((self.brokers, other.brokers)))

    def kept(self, keep: np.ndarray) -> _Run | None:
        """The rows where ``keep`` is true: still sorted, so not sorted again."""
        if not keep.any():
            return None
        return _Run.of(self.hashes[keep], self.ids[keep], self.received[keep], self.brokers[keep], presorted=True)


class RecentCopies:
    def __init__(self) -> None:
        self._runs: list[_Run] = []  # in id order
        self._broker_names: list[str] = []
        self._broker_index: dict[str, int] = {}
        self.known_id = 0  # every row up to this id has been seen (added here, or older than the window)
        self.covered_since = math.inf  # every row received since then is here

    def __len__(self) -> int:
        return sum(len(run.hashes) for run in self._runs)

    def lookup(self, hashes: Sequence[int]) -> dict[int, CopiesByBroker]:
        """The rows held with any of these hashes: per hash, per broker, (id, received) in id order."""
        found: dict[int, CopiesByBroker] = {}
        if not self._runs or not hashes:
            return found
        wanted = np.array(hashes, dtype=np.int64)
        names = self._broker_names
        for run in self._runs:
            at = np.minimum(np.searchsorted(run.hashes, wanted), len(run.hashes) - 1)
            hits = np.unique(wanted[run.hashes[at] == wanted])
            for digest in hits.tolist():  # rare but on a mesh: most messages have no copy
                start = int(np.searchsorted(run.hashes, digest, "left"))
                end = int(np.searchsorted(run.hashes, digest, "right"))
                by_broker = found.setdefault(digest, {})
                for row_id, received, broker in zip(run.ids[start:end].tolist(), run.received[start:end].tolist(),
                                                    run.brokers[start:end].tolist()):
                    by_broker.setdefault(names[broker], []).append((row_id, received))
        return found

    def add(self, hashes: Sequence[int], ids: Sequence[int], received: Sequence[float], brokers: Sequence[str]) -> None:
        """Rows just stored or read back, in id order after those already here."""
        if not hashes:
            return
        run = _Run.of(hashes, ids, received, [self._broker(name) for name in brokers])
        last = self._runs[-1] if self._runs else None
        if last is not None and run.newest - last.oldest < RUN_SECONDS and len(last.hashes) < RUN_ROWS:
            self._runs[-1] = last.joined(run)
        else:
            self._runs.append(run)
        self.known_id = max(self.known_id, int(ids[-1]))

    def add_rows(self, rows: Iterable[tuple[int, int, str, float]]) -> None:
        """Rows read back from the store as (hash, id, broker, received), in id order."""
        columns = list(zip(*rows))
        if columns:
            hashes, ids, brokers, received = columns
            self.add(hashes, ids, received, brokers)

    def reset(self, since: float, known_id: int) -> None:
        """Forget everything: the caller adds every row received since ``since`` (up to ``known_id``) next."""
        self._runs.clear()
        self.covered_since = since
        self.known_id = known_id

    def clear(self) -> None:
        """Trust nothing held (a batch rolled back after its rows were added): the next batch reads again."""
        self.reset(math.inf, 0)

    def forget_before(self, cutoff: float) -> None:
        """Drop the runs whose rows were all received before ``cutoff``. A run's older rows stay with its
        newer ones: the mesh check compares times itself."""
        self._runs = [run for run in self._runs if run.newest >= cutoff]
        self.covered_since = max(self.covered_since, cutoff)

    def forget_ids_below(self, first_kept: int) -> None:
        """Drop rows the store pruned (the oldest ids)."""
        runs = []
        for run in self._runs:
            kept = run if run.ids.min() >= first_kept else run.kept(run.ids >= first_kept)
            if kept is not None:
                runs.append(kept)
        self._runs = runs

    def _broker(self, name: str) -> int:
        index = self._broker_index.get(name)
        if index is None:
            index = self._broker_index[name] = len(self._broker_names)
            self._broker_names.append(name)
        return index
