"""The ``eventscope`` command: the window by default, headless sub-commands otherwise.

Qt is imported only when the window opens, so the headless sub-commands start fast.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import sys

from core import __version__
from core.cli import register_subcommands
from core.cli.common import EXIT_FAILURE, EXIT_USAGE, UsageError, error


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit 2 with the usage line on stderr
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="eventscope", description="Desktop event monitor for MQTT event meshes.")
    parser.add_argument("--version", action="version", version=f"eventscope {__version__}")
    parser.add_argument("--demo", action="store_true",
                        help="start an embedded broker with simulated multi-region traffic and a replier, and connect to it")
    parser.add_argument("--broker-port", type=int, default=None, help="port for the embedded demo broker")
    parser.add_argument("--connect", metavar="ADDRESS", default=None, help="connect at start-up, e.g. 127.0.0.1:1883")
    parser.add_argument("--profile", metavar="NAME", action="append", default=[],
                        help="open a saved connection profile (repeat for several brokers)")
    parser.add_argument("--read-only", action="store_true", help="monitor mode: never publish")
    parser.add_argument("--screenshot", metavar="PATH", default=None, help="save a PNG of the window, then quit")
    parser.add_argument("--quit-after", metavar="SECONDS", type=float, default=None,
                        help="quit after this many seconds (with --screenshot: take it then)")
    parser.add_argument("--log-level", default="WARNING", help=argparse.SUPPRESS)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    register_subcommands(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()  # the window's connection process, in a frozen bundle too
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if args.command is None:
        from gui.app import run_app  # Qt only for the window

        return run_app(args)
    try:
        return args.run(args)
    except UsageError as exc:
        error(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
