"""The ``eventscope`` command: the window by default, headless sub-commands otherwise.

This launcher sits above both front ends: it parses the command line, then hands a sub-command to
``eventscope.core.cli`` or the window's options to ``eventscope.gui.app``. Qt is imported only when
the window opens, so a headless command never loads it and starts fast.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import sys

from eventscope.core import __version__
from eventscope.core.cli import register_subcommands
from eventscope.core.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    CommandParser,
    UsageError,
    error,
    parse_duration,
    port_number,
)
from eventscope.core.cli.desktop_entry import install_desktop_entry
from eventscope.core.cli.frozen import run_as_python


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit 2 with the usage line on stderr
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="eventscope", description="Desktop event monitor for MQTT event meshes.")
    parser.add_argument("--version", action="version", version=f"eventscope {__version__}")
    parser.add_argument("--demo", action="store_true",
                        help="start an embedded broker with simulated multi-region traffic and a replier, and connect to it")
    parser.add_argument("--broker-port", type=port_number, default=None, help="port for the embedded demo broker")
    parser.add_argument("--connect", metavar="ADDRESS", default=None, help="connect at start-up, e.g. 127.0.0.1:1883")
    parser.add_argument("--profile", metavar="NAME", action="append", default=[],
                        help="open a saved connection profile (repeat for several brokers)")
    parser.add_argument("--read-only", action="store_true", help="monitor mode: never publish")
    parser.add_argument("--screenshot", metavar="PATH", default=None, help="save a PNG of the window, then quit")
    parser.add_argument("--quit-after", metavar="DURATION", type=parse_duration, default=None,
                        help="quit after this many seconds (with --screenshot: take it then)")
    parser.add_argument("--install-desktop-entry", action="store_true",
                        help="add Eventscope to this Linux desktop's application menu (XDG data folder), then exit")
    parser.add_argument("--log-level", default="WARNING", help=argparse.SUPPRESS)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    register_subcommands(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()  # the window's connection process, in a frozen bundle too
    if getattr(sys, "frozen", False) and argv is None and run_as_python(sys.argv[1:]):
        return EXIT_OK  # a helper process (broker watchdog, protoc) that a bundle starts through itself
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if args.install_desktop_entry:
        return _install_desktop_entry()
    if args.command is None:
        from eventscope.gui.app import run_app  # Qt only for the window

        return run_app(args)
    try:
        code = args.run(args)
    except UsageError as exc:
        error(str(exc))
        code = EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_FAILURE
    if code == EXIT_USAGE:  # input the command refused after parsing: its usage follows the reason
        args.command_parser.print_usage(sys.stderr)
    return code


def _install_desktop_entry() -> int:
    if not sys.platform.startswith("linux"):
        error("--install-desktop-entry is for Linux desktops (XDG); elsewhere, pin the eventscope command yourself")
        return EXIT_FAILURE
    try:
        written = install_desktop_entry()
    except OSError as exc:
        error(f"cannot write the desktop entry: {exc.strerror or exc} ({exc.filename})")
        return EXIT_FAILURE
    for path in written:
        print(f"Wrote {path}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
