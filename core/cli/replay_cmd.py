"""``eventscope audit replay``: send recorded traffic again to a broker, and compare today's replies.

Exit codes: 0 when every compared reply was the same (or nothing was compared), 3 when some differed or
went missing (a CI pipeline can gate on it), 1 for a runtime failure, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from eventscope.core.audit.export import parse_since
from eventscope.core.audit.store import AuditQuery, AuditStoreError, default_audit_path
from eventscope.core.audit.stores import open_reader
from eventscope.core.cli.common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    add_connection_args,
    connect_session,
    error,
    named_broker,
    positive_duration,
)
from eventscope.core.cli.db_args import add_db_password_arg, open_db
from eventscope.core.mqtt.session import SessionError
from eventscope.core.replay.engine import Replayer, ReplayResult, ReplyWatcher, plan
from eventscope.core.replay.rewrite import RewriteRules
from eventscope.core.topics import TopicError
from eventscope.core.workspace.brokers import WORKSPACE_AUDIT_NAME


def add_parser(commands) -> None:
    replay = commands.add_parser(
        "replay", help="send recorded traffic again, and compare today's replies with the recorded ones",
        description="Send audit rows again to a broker, on their recorded schedule times --speed, with their QoS, "
                    "payload and MQTT 5 properties; with --compare, wait for each request's reply and compare it "
                    "with the recorded one. Exit 0 when every compared reply was the same, 3 when some differed "
                    "or went missing.")
    add_connection_args(replay)
    replay.add_argument("--to", dest="broker", action="append", default=[], metavar="NAME=URL",
                        help="the broker to send to (the same as --broker; or --profile NAME)")
    replay.add_argument("--db", default="", help="the audit database: a file or a postgresql:// URL "
                                                 "(default: the window's audit database)")
    add_db_password_arg(replay)
    replay.add_argument("--since", default="", help="only rows received since: an ISO time, epoch seconds or a "
                                                    "duration ago (15m, 2h)")
    replay.add_argument("--until", default="", help="only rows received until: an ISO time, epoch seconds or a "
                                                    "duration ago")
    replay.add_argument("-t", "--topic", default="", help="only rows whose topic contains this text")
    replay.add_argument("--regions", default="", metavar="A,B", help="only rows from these regions")
    replay.add_argument("--kind", choices=("request", "reply", "other"), default="request",
                        help="which rows (default: requests)")
    replay.add_argument("--speed", default="1", help="the recorded timing times this factor (0.5, 1, 10), or max")
    replay.add_argument("--rewrite", action="append", default=[], metavar="FROM=TO",
                        help="rewrite a topic prefix (repeatable, the first match wins); response topics too")
    replay.add_argument("--fresh-correlation", action="store_true",
                        help="new correlation data for every request (the comparison still pairs them)")
    replay.add_argument("--retain", action="store_true", help="keep the retain flag (off by default)")
    replay.add_argument("--compare", action="store_true", help="wait for each request's reply and compare it")
    replay.add_argument("--reply-broker", action="append", default=[], metavar="NAME=URL|PROFILE",
                        help="also wait for replies on this broker (repeatable): for a mesh")
    replay.add_argument("-W", "--wait", type=positive_duration, default=5.0, metavar="SECONDS",
                        help="how long each request waits for its reply (default 5)")
    replay.add_argument("--dry-run", action="store_true", help="print what would be sent, after rewriting; send nothing")
    replay.add_argument("--format", choices=("text", "jsonl"), default="text", help="result lines (default text)")
    replay.set_defaults(run=run)


def _query(args: argparse.Namespace) -> tuple[AuditQuery, float | None]:
    regions = tuple(r.strip() for r in args.regions.split(",") if r.strip())
    since = parse_since(args.since) if args.since else None
    until = parse_since(args.until) if args.until else None
    return AuditQuery(topic=args.topic, regions=regions, kind=args.kind, since=since), until


def run(args: argparse.Namespace) -> int:
    try:
        speed = None if args.speed == "max" else float(args.speed)
        if speed is not None and not speed > 0:
            raise ValueError
    except ValueError:
        error(f"--speed takes a positive factor (0.5, 1, 10) or max, not {args.speed!r}")
        return EXIT_USAGE
    try:
        rules = RewriteRules.parse(args.rewrite)
        query, until = _query(args)
    except ValueError as exc:
        error(str(exc))
        return EXIT_USAGE
    location = args.db or default_audit_path(WORKSPACE_AUDIT_NAME)
    store = open_db(args, location, lambda password: open_reader(location, password=password))
    if isinstance(store, int):
        return store
    try:
        replay_id, items = plan(store, query, until, rules, args.fresh_correlation)
    except (AuditStoreError, TopicError) as exc:
        error(str(exc))
        return EXIT_FAILURE
    finally:
        store.close()
    if not items:
        error("nothing to replay: no audit row matches the selection")
        return EXIT_FAILURE
    if args.dry_run:
        for item in items:
            print(json.dumps({"audit_id": item.audit_id, "topic": item.topic, "qos": item.qos,
                              "payload": item.payload.decode("utf-8", "replace"),
                              "response_topic": item.properties.response_topic}, ensure_ascii=False))
        print(f"dry run: {len(items)} messages would be sent", file=sys.stderr)
        return 0
    sessions = []
    try:
        target = connect_session(args, publishes=True, buffer_messages=False, session_id="replay")
        sessions.append(target)
        watcher = None
        if args.compare:
            for spec in args.reply_broker:
                profile, reply_password = named_broker(args, spec)
                sessions.append(connect_session(args, broker=(profile, reply_password), buffer_messages=False,
                                                session_id=profile.name))
            watcher = ReplyWatcher()
            watcher.watch(sessions, [i.properties.response_topic for i in items
                                     if i.expects_reply and i.properties.response_topic], args.connect_timeout)
        cancel = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: cancel.set())  # stop before the next send, with a summary
        progress = _Progress(len(items), args.format)
        replayer = Replayer(target.publish, items, speed, args.retain, watcher, args.wait, progress.note)
        summary = replayer.run(replay_id, cancel)
    except (ConnectionError, SessionError, TopicError, ValueError) as exc:
        error(str(exc))
        return EXIT_FAILURE
    finally:
        for session in sessions:
            session.stop()
    progress.done()
    print(summary.text(), file=sys.stderr)
    return summary.exit_code


class _Progress:
    """Result lines on stdout; a progress line on stderr when it is a terminal."""

    def __init__(self, total: int, fmt: str) -> None:
        self.total, self.fmt, self.count = total, fmt, 0
        self.tty = sys.stderr.isatty()

    def note(self, result: ReplayResult) -> None:
        self.count += 1
        if self.fmt == "jsonl":
            print(json.dumps(result.as_json(), ensure_ascii=False), flush=True)
        elif result.outcome not in ("same", "sent") or result.error:
            detail = result.error or (result.diff.text() if result.diff else "")
            print(f"{result.outcome}: {result.item.topic} (audit {result.item.audit_id}){': ' + detail if detail else ''}",
                  flush=True)
        if self.tty:
            print(f"\r{self.count}/{self.total} sent", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.tty:
            print(file=sys.stderr)
