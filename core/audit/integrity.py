"""Is an audit database whole, and may this process use its place on disk? Checks that say why not.

The integrity check is SQLite's ``quick_check`` with a time budget: a damaged page in a file of
any size is usually found within it, and a very large file that runs out of budget is trusted
rather than making every start slow.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

INTEGRITY_CHECK_SECONDS = 2.0
PROGRESS_STEPS = 10_000  # SQLite virtual-machine steps between looks at the clock


def quick_check(conn: sqlite3.Connection, seconds: float = INTEGRITY_CHECK_SECONDS) -> str:
    """'' when the database passes (or the budget ran out first); else what SQLite found wrong."""
    deadline = time.monotonic() + seconds
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), PROGRESS_STEPS)
    try:
        findings = [row[0] for row in conn.execute("PRAGMA quick_check(3)").fetchall()]
    except sqlite3.OperationalError as exc:
        if "interrupted" in str(exc):
            return ""
        raise
    except sqlite3.DatabaseError as exc:  # malformed, not a database
        return str(exc)
    finally:
        conn.set_progress_handler(None, 0)
    problems = [finding for finding in findings if finding != "ok"]
    return "; ".join(problems)


def location_problem(path: Path, write: bool) -> str:
    """Why ``path`` cannot be an audit database to read (or, with ``write``, to record into); '' if it can."""
    try:
        return _location_problem(path, write)
    except PermissionError:  # even looking is not allowed
        return f"Permission denied: cannot {'write' if write else 'read'} the audit database {path}"


def _location_problem(path: Path, write: bool) -> str:
    if path.is_dir():
        return f"{path} is a directory, not an audit database file"
    folder = path.parent
    if write:
        if folder.exists() and not os.access(folder, os.W_OK | os.X_OK):
            return f"Permission denied: cannot write in the audit folder {folder}"
        if path.exists() and not os.access(path, os.R_OK | os.W_OK):
            return f"Permission denied: cannot read and write the audit database {path}"
        return ""
    if not os.access(folder, os.X_OK) or (path.exists() and not os.access(path, os.R_OK)):
        return f"Permission denied: cannot read the audit database {path}"
    if not path.exists():
        return f"No audit database at {path}"
    return ""
