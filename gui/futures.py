"""Core futures finishing on other threads, handed to the GUI thread: the window reacts, never waits."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future

from PySide6.QtCore import QObject, Signal


class FutureWatcher(QObject):
    """Calls ``callback(future)`` on the GUI thread once ``future`` is done (one queued signal per future).

    A callback for a watcher that was deleted meanwhile is dropped: its view is gone.
    """

    _finished = Signal(object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._finished.connect(self._call)

    def watch(self, future: Future, callback: Callable[[Future], None]) -> None:
        def done(f: Future) -> None:
            try:
                self._finished.emit(f, callback)
            except RuntimeError:  # the watcher was deleted with its view
                pass
        future.add_done_callback(done)

    @staticmethod
    def _call(future: Future, callback: Callable[[Future], None]) -> None:
        callback(future)
