"""The audit database on the command line: ``--db`` is a SQLite file or the team's ``postgresql://`` URL,
whose password comes from ``--db-password-env``, libpq's PGPASSWORD or PGPASSFILE, never argv."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import TypeVar

from eventscope.core.audit.postgres import is_postgres_url, mask_url, split_password
from eventscope.core.audit.store import AuditStoreError
from eventscope.core.console import EXIT_FAILURE, EXIT_USAGE, error

Store = TypeVar("Store")


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
