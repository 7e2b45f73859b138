"""Headless sub-commands. Each module has ``add_parser(subparsers)`` and ``run(args) -> int``.

Exit codes: 0 success, 1 runtime failure (e.g. broker unreachable), 2 bad usage.
"""

from __future__ import annotations

import importlib

SUBCOMMAND_MODULES = ("broker", "sub", "pub", "request", "reply", "tree", "audit", "bench")


def register_subcommands(subparsers) -> None:
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(f"eventscope.core.cli.{name}_cmd")
        except ModuleNotFoundError as exc:
            if exc.name != f"eventscope.core.cli.{name}_cmd":
                raise
            continue  # a sub-command not built yet
        module.add_parser(subparsers)
