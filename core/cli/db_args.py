"""The audit database on the command line: ``--db`` is a SQLite file or the team's ``postgresql://`` URL,
whose password comes from ``--db-password-env``, libpq's PGPASSWORD or PGPASSFILE, never argv; and
``--max-payload``, how much of each payload a recording keeps."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from typing import TypeVar

from eventscope.core.audit.postgres import is_postgres_url, mask_url, split_password
from eventscope.core.audit.store import DEFAULT_PAYLOAD_LIMIT, AuditStoreError
from eventscope.core.console import EXIT_FAILURE, EXIT_USAGE, error

Store = TypeVar("Store")

MAX_PAYLOAD_CAP = 256 * 1024 * 1024  # MQTT's largest message is 256 MiB less one byte: no cap need be higher
_SIZE = re.compile(r"(\d+)\s*(b|k|kib|m|mib)?", re.IGNORECASE)
_UNIT_BYTES = {"": 1, "b": 1, "k": 1024, "kib": 1024, "m": 1024 * 1024, "mib": 1024 * 1024}


def payload_size(text: str) -> int:
    """An argparse type: bytes from ``65536``, ``64K`` or ``16M`` (K and M are KiB and MiB), 1 B to 256 MiB.
    A bad one is a usage error (exit 2)."""
    match = _SIZE.fullmatch(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: give bytes or a number with K or M "
                                         "(KiB, MiB), e.g. 65536, 64K, 16M")
    size = int(match.group(1)) * _UNIT_BYTES[(match.group(2) or "").lower()]
    if not 0 < size <= MAX_PAYLOAD_CAP:
        raise argparse.ArgumentTypeError(f"{text!r}: give a size from 1 byte to 256M")
    return size


def add_max_payload_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-payload", type=payload_size, default=DEFAULT_PAYLOAD_LIMIT, metavar="SIZE",
                        help="keep payloads whole up to this size, e.g. 64K or 16M; a longer one is cut there and "
                             "flagged truncated with its original size (default 16M)")


def add_db_password_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db-password-env", metavar="VAR", default=None,
                        help="read the PostgreSQL password from this environment variable (libpq's PGPASSWORD and "
                             "PGPASSFILE work too); a password in the URL shows in the process list")


def db_password(args: argparse.Namespace, location: str) -> str | None:
    """The team database's password from --db-password-env (else libpq finds it); a warning when the URL
    itself carries one. Raises ``ValueError`` for a variable that is not set."""
    if not is_postgres_url(location):
        return None
    name = getattr(args, "db_password_env", None)
    if name:
        if name not in os.environ:
            raise ValueError(f"--db-password-env {name}: no such environment variable")
        return os.environ[name]
    if split_password(location)[1] is not None:
        error(f"warning: the password in {mask_url(location)} is visible in the process list; "
              "use --db-password-env or PGPASSFILE")
    return None


def open_db(args: argparse.Namespace, location: str | os.PathLike, opener: Callable[[str | None], Store]) -> Store | int:
    """``opener(password)`` for the database at ``location``, or the exit code once the reason is said:
    a bad option or location is a usage error, a database that refuses is a failure."""
    try:
        return opener(db_password(args, str(location)))
    except ValueError as exc:
        error(str(exc))
        return EXIT_USAGE
    except AuditStoreError as exc:
        error(str(exc))
        return EXIT_FAILURE
