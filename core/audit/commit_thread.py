"""Runs an ``AuditRecorder`` on its own thread: commit, acknowledge, report.

SQLite commits and the manual acks after them never run on the thread that draws. What was
committed is handed on as ``FlushSummary`` results, which the workspace collects into its
next change summary. Their rows hold a preview of each payload, as the feed's reads do: a 16 MiB
payload is stored whole, but never held for the feed nor sent across to the window.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import replace
from pathlib import Path

from eventscope.core.audit.lock import RecorderBusyError
from eventscope.core.audit.recorder import AuditRecorder, FlushSummary
from eventscope.core.audit.store import PAYLOAD_PREVIEW_BYTES

log = logging.getLogger(__name__)

WRITE_INTERVAL = 0.033  # seconds between commits while traffic flows; one transaction per interval
# Committed rows held for the feed until the workspace takes them. Past this, results keep their
# counts but not their rows, and the feed reads what it missed back from the store.
MAX_HELD_ROWS = 100_000
LOCK_RETRY_SECONDS = 0.5  # how often a writer waiting for another recorder's lock tries again


class AuditWriter:
    """A thread that flushes one recorder about 30 times a second until stopped.

    Events: none; ``take_results()`` returns what was committed since the last call.
    """

    def __init__(self, recorder: AuditRecorder, interval: float = WRITE_INTERVAL,
                 database: Path | str | None = None) -> None:
        self.recorder = recorder
        self.database = database  # where its results are labelled as committed
        self.interval = interval
        self._results: deque[FlushSummary] = deque()
        self._held_rows = 0
        self._warning = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, wait_for_lock: bool = False) -> list:
        """Start the recorder (lock, subscriptions, connect) and the commit thread; returns the SUBACK futures.

        Another recorder of the same database and broker raises ``RecorderBusyError``; with ``wait_for_lock``
        the thread instead reports why it waits and starts recording once that recorder lets go (a window
        that just closed finishes its commits first). The broker keeps the durable session's messages
        meanwhile, so the hand-over loses none and stores none twice.
        """
        try:
            futures = self.recorder.start()
        except RecorderBusyError as busy:
            if not wait_for_lock:
                raise
            self._keep(FlushSummary(warning=f"Another Eventscope is recording {busy.recording or 'this database'}: "
                                            "this one starts recording as soon as that one stops, and the broker "
                                            "keeps the messages meanwhile", waiting=True))
            futures = []
        self._thread = threading.Thread(target=self._run, name=f"audit-writer-{self.recorder.client_id}", daemon=True)
        self._thread.start()
        return futures

    def _wait_for_lock(self) -> bool:
        """Try the lock until it is free or the writer is stopped; True once recording."""
        while not self._stop.wait(LOCK_RETRY_SECONDS):
            try:
                self.recorder.start()
            except RecorderBusyError:
                continue
            self._keep(FlushSummary(written_elsewhere=True))  # the notice goes; the feed reads the other's rows
            return True
        return False

    def stop(self, timeout: float = 10.0) -> FlushSummary | None:
        """Stop the thread, then store and acknowledge what already arrived and disconnect."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        summary = self.recorder.stop()
        if summary is not None:
            self._keep(summary)
        return summary

    def take_results(self) -> list[FlushSummary]:
        """Everything committed (or a changed warning) since the last call, oldest first."""
        results = []
        while self._results:
            results.append(self._results.popleft())
        self._held_rows = 0
        return results

    def _run(self) -> None:
        if not self.recorder.started and not self._wait_for_lock():
            return
        while not self._stop.is_set():
            try:
                summary = self.recorder.flush()
            except Exception:  # a bug must not silently end recording: log it and keep the thread alive
                log.exception("audit flush failed")
                summary = None
            if summary is not None:
                self._keep(summary)
            busy = summary is not None and summary.result is not None and len(self.recorder.buffer) > 0
            if not busy:
                self._stop.wait(self.interval)

    def _keep(self, summary: FlushSummary) -> None:
        if summary.result is None and summary.warning == self._warning:
            return
        self._warning = summary.warning
        summary = replace(summary, database=self.database)
        if summary.result is not None:
            rows = summary.result.rows
            self._held_rows += len(rows)
            if self._held_rows > MAX_HELD_ROWS:
                summary = replace(summary, result=replace(summary.result, rows=(), pairings=()))
            elif any(len(row.payload) > PAYLOAD_PREVIEW_BYTES for row in rows):
                summary = replace(summary, result=replace(summary.result, rows=tuple(row.as_preview() for row in rows)))
        self._results.append(summary)
