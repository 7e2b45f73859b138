"""One recorder per audit database.

Every recorder of a database uses the same durable client id; two at once would make the
broker disconnect each in turn, forever. An OS file lock (released by the OS even after
kill -9) lets exactly one process record.
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt


class RecorderBusyError(RuntimeError):
    """Another process is recording this audit database; the message says which file."""


class RecorderLock:
    def __init__(self, db_path: str | Path) -> None:
        self.path = Path(f"{db_path}.recorder.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            else:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            os.close(fd)
            raise RecorderBusyError(
                f"Another Eventscope is already recording {self.path.name.removesuffix('.recorder.lock')}; "
                "this one shows the audit feed without recording") from exc
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the lock
