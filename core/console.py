"""What every front end (the CLI and the window's start-up) shares on the console: exit codes and error lines."""

from __future__ import annotations

import sys

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2  # success, runtime failure (e.g. broker unreachable), bad usage


def error(message: str) -> None:
    """One line on stderr, prefixed with the program's name, as the mosquitto clients do."""
    print(f"eventscope: {message}", file=sys.stderr)
