"""One recorder per audit database and broker.

Every recorder of a database uses the same durable client id; two on the same broker would make
it disconnect each in turn, forever. An OS file lock (released by the OS even after kill -9),
keyed by the database's real path (so a symlink is the same database) and the broker, lets
exactly one recorder per broker write a database; a workspace's brokers share one.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt


class RecorderBusyError(RuntimeError):
    """Another process is recording this audit database; the message says which file.

    ``recording`` names what the other one records (the file, or the broker and the team database)."""

    def __init__(self, message: str, recording: str = "") -> None:
        super().__init__(message)
        self.recording = recording


class RecorderLock:
    def __init__(self, db_path: str | Path, broker: str = "") -> None:
        real = Path(db_path).resolve()
        owner = f".{re.sub(r'[^A-Za-z0-9._-]+', '_', broker)}" if broker else ""
        self.database = real
        self.path = real.with_name(f"{real.name}{owner}.recorder.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            else:
                # Reached on Windows only; typeshed declares msvcrt's names for win32 alone.
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # pyright: ignore[reportAttributeAccessIssue]
        except OSError as exc:
            os.close(fd)
            raise RecorderBusyError(
                f"Another Eventscope is already recording {self.database.name}; "
                "this one shows the audit feed without recording", recording=self.database.name) from exc
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the lock
