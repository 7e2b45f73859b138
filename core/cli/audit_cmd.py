"""``eventscope audit``: the headless durable recorder, export of the audit store, and setting up a team
database. ``--db`` is a SQLite file (the default, on this computer) or a ``postgresql://`` URL (the team
audit); a URL's password comes from ``--db-password-env``, libpq's PGPASSWORD or PGPASSFILE, never argv."""

from __future__ import annotations

import argparse
import signal
import sqlite3
import sys
import threading
from pathlib import Path

from eventscope.core.audit.export import FORMATS, ExportJob, parse_since
from eventscope.core.audit.lock import RecorderBusyError
from eventscope.core.audit.postgres import (
    create_roles,
    init_schema,
    is_postgres_url,
    mask_url,
    role_grants,
)
from eventscope.core.audit.recorder import AuditRecorder
from eventscope.core.audit.store import AuditQuery, AuditStoreError, default_audit_path
from eventscope.core.audit.stores import open_reader, open_store
from eventscope.core.cli import replay_cmd
from eventscope.core.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    add_connection_args,
    add_topic_arg,
    brokers_from_args,
    error,
    port_number,
    positive_duration,
)
from eventscope.core.cli.db_args import add_db_password_arg, add_max_payload_arg, db_password, open_db
from eventscope.core.cli.decode_args import add_decode_args, decoder_rules_from_args
from eventscope.core.mqtt.session import SessionState
from eventscope.core.profile import DEFAULT_AUDIT_FILTERS
from eventscope.core.topics import TopicError, validate_filter

FLUSH_SECONDS = 1 / 30


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("audit", help="durable audit recorder and export",
                                   description="Record audit filters durably, or export the audit store.")
    commands = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)

    record = commands.add_parser("record", help="record audit filters into the audit store (ack after commit)",
                                 description="Record every message on the audit filters into the audit store; "
                                             "each is acknowledged to the broker only after it is committed.")
    add_connection_args(record)
    add_topic_arg(record, f"filter to record (repeatable; default: {' '.join(DEFAULT_AUDIT_FILTERS)})",
                  subscribes=True, repeatable=True, defaults=DEFAULT_AUDIT_FILTERS)
    record.add_argument("--db", default="", help="audit database: a file (default: one per broker in the user data "
                                                   "dir) or a postgresql:// URL (the team audit)")
    add_db_password_arg(record)
    record.add_argument("--max-rows", type=int, default=None, help="retention: keep at most this many rows")
    record.add_argument("--max-age", type=positive_duration, default=None, metavar="DURATION",
                        help="retention: drop rows older than this (e.g. 7d, 12h)")
    add_max_payload_arg(record)
    record.set_defaults(run=run_record)

    export = commands.add_parser("export", help="export audit rows as CSV or JSONL",
                                 description="Export audit rows as CSV or JSON lines; an export only reads the store.")
    export.add_argument("--db", default="", help="audit database: a file or a postgresql:// URL")
    add_db_password_arg(export)
    export.add_argument("-h", "--host", default="127.0.0.1", help="with no --db: the broker whose audit store to read")
    export.add_argument("-p", "--port", type=port_number, default=1883,
                        help="with no --db: that broker's port (default 1883)")
    export.add_argument("--format", choices=FORMATS, default="jsonl", help="output format (default jsonl)")
    export.add_argument("--since", default="",
                        help="only rows received since: an ISO time, epoch seconds, or a duration ago (15m, 2h, 1d)")
    export.add_argument("--grep", default="", help="only rows whose topic or payload contains this text")
    export.add_argument("-t", "--topic", default="", help="only rows whose topic contains this text")
    export.add_argument("--regions", "--region", default="", metavar="A,B",
                        help="only rows from these comma-separated regions (default: all)")
    export.add_argument("--kind", choices=("request", "reply", "other", "replay"), default=None,
                        help="only requests, replies or other messages (default: all)")
    export.add_argument("--output", "-o", default="-", help="file to write (default: standard output)")
    add_decode_args(export)  # each row also carries its decoded form
    export.set_defaults(run=run_export)

    init = commands.add_parser("init-db", help="create or upgrade the team audit schema in PostgreSQL",
                               description="Create the team audit's tables in a PostgreSQL database, or upgrade an "
                                           "older schema (safe to run again). With --roles, also create the "
                                           "eventscope_recorder (insert and read) and eventscope_viewer (read only) "
                                           "roles; --print-grants only prints their SQL, for a DBA.")
    init.add_argument("database", metavar="URL", help="postgresql://user@host:port/database")
    add_db_password_arg(init)
    init.add_argument("--roles", action="store_true", help="also create the recorder and viewer roles with their grants")
    init.add_argument("--print-grants", action="store_true", help="print the roles' SQL and change nothing")
    init.set_defaults(run=run_init_db)

    prune = commands.add_parser("prune", help="apply the retention now (the team database: whole days)",
                                description="Drop what is older than --max-age: whole days from the team database "
                                            "(as its owner), rows from a SQLite file.")
    prune.add_argument("--db", required=True, help="audit database: a file or a postgresql:// URL")
    add_db_password_arg(prune)
    prune.add_argument("--max-age", type=positive_duration, required=True, metavar="DURATION",
                       help="keep this much (e.g. 30d)")
    prune.set_defaults(run=run_prune)
    replay_cmd.add_parser(commands)


def run_prune(args: argparse.Namespace) -> int:
    location = _db_path(args)
    try:
        store = open_store(location, db_password(args, str(location)), max_age_seconds=args.max_age)
        try:
            dropped = store.prune()
        finally:
            store.close()
    except (AuditStoreError, ValueError, sqlite3.Error) as exc:
        error(str(exc))
        return EXIT_FAILURE
    print(f"pruned {dropped} rows older than {args.max_age:g} s", file=sys.stderr)
    return EXIT_OK


def run_init_db(args: argparse.Namespace) -> int:
    if not is_postgres_url(args.database):
        error(f"init-db takes a postgresql:// URL, not {args.database!r} (a SQLite file needs no set-up)")
        return EXIT_USAGE
    if args.print_grants:
        print(";\n".join(role_grants()) + ";")
        return EXIT_OK
    try:
        password = db_password(args, args.database)
        print(f"{mask_url(args.database)}: {init_schema(args.database, password)}")
        if args.roles:
            create_roles(args.database, password)
            print("roles eventscope_recorder (insert, read) and eventscope_viewer (read) granted; "
                  "GRANT one to each login role")
    except (AuditStoreError, ValueError) as exc:
        error(str(exc))
        return EXIT_FAILURE
    return EXIT_OK


def _db_path(args: argparse.Namespace) -> str | Path:
    if is_postgres_url(args.db):
        return args.db
    return Path(args.db) if args.db else default_audit_path(f"{args.host}:{args.port}")


def run_record(args: argparse.Namespace) -> int:
    filters = tuple(args.topics)
    try:
        for topic_filter in filters:
            validate_filter(topic_filter)
    except TopicError as exc:
        error(str(exc))
        return EXIT_USAGE
    options: dict = {"payload_limit": args.max_payload}
    if args.max_rows is not None:
        options["max_rows"] = args.max_rows
    if args.max_age is not None:
        options["max_age_seconds"] = args.max_age
    location = _db_path(args)
    store = open_db(args, location, lambda password: open_store(location, password, **options))
    if isinstance(store, int):
        return store
    if store.notice:
        error(store.notice)
    brokers = brokers_from_args(args)
    # Several brokers, or a broker given a name (a recorder beside one regional broker of the mesh):
    # each row names its broker, as in the window; else the broker's address does.
    named = len(brokers) > 1 or bool(args.broker or args.profile)
    recorders = [AuditRecorder(store, profile, password, filters, broker=profile.name if named else "")
                 for profile, password in brokers]
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    started: list[AuditRecorder] = []
    try:
        for recorder in recorders:
            recorder.session.connack_timeout = args.connect_timeout  # the command's wait, not the window's
            recorder.start()
            started.append(recorder)
    except RecorderBusyError as exc:
        error(str(exc))
        for recorder in started:
            recorder.stop(final_flush=False)
        store.close()
        return EXIT_FAILURE
    for recorder in recorders:
        if not recorder.wait_ready(args.connect_timeout):
            error(f"Cannot start the audit recorder on {recorder.profile.address}: {recorder.not_ready_reason}")
            for other in recorders:
                other.stop(final_flush=False)
            store.close()
            return EXIT_FAILURE
    client_id = recorders[0].client_id
    names = f" brokers={','.join(p.name for p, _ in brokers)}" if named else ""
    print(f"audit recorder ready: db={store.path} client_id={client_id} filters={','.join(filters)}{names}", flush=True)
    last_warning = ""
    pending = 0
    refused = False
    try:
        while not stop.is_set() and not refused:
            for recorder in recorders:
                summary = recorder.flush()
                if summary.warning != last_warning:
                    last_warning = summary.warning
                    if last_warning:
                        error(last_warning)
                status = recorder.session.status
                if status.state is SessionState.DISCONNECTED:  # a fatal CONNACK on a reconnect: retrying cannot help
                    error(f"The audit recorder on {recorder.profile.address} stopped: {status.message}")
                    refused = True
            stop.wait(FLUSH_SECONDS)
    finally:
        for recorder in recorders:
            final = recorder.stop()
            pending += final.pending if final else 0
        store.close()
    print(f"audit recorder stopped: {sum(r.total_written for r in recorders)} rows written", flush=True)
    return EXIT_OK if not pending and not refused else EXIT_FAILURE


def run_export(args: argparse.Namespace) -> int:
    """An export is a read: it never moves, creates or repairs the database, and says what it could not read."""
    rules = decoder_rules_from_args(args)
    try:
        since = parse_since(args.since) if args.since else None
    except ValueError as exc:
        error(str(exc))
        return EXIT_USAGE
    location = _db_path(args)
    store = open_db(args, location, lambda password: open_reader(location, password=password, snapshot=True))
    if isinstance(store, int):
        return store
    if store.damage:
        error(f"The audit database {store.path} is damaged ({store.damage}); exporting the rows that can still be read")
    try:
        out = sys.stdout if args.output == "-" else open(args.output, "w", newline="", encoding="utf-8")
    except OSError as exc:
        store.close()
        error(f"Cannot write {args.output}: {exc.strerror or exc}")
        return EXIT_FAILURE
    try:
        # --grep matches topic or payload: two queries would reorder rows, so filter the topic side here.
        regions = tuple(region.strip() for region in args.regions.split(",") if region.strip())
        query = AuditQuery(topic=args.topic, regions=regions, kind=args.kind or "", since=since)
        if args.grep:
            job = _GrepExport(store, query, args.format, out, args.grep, rules)
        else:
            job = ExportJob(store, query, args.format, out, rules=rules)
        written = job.run()
    finally:
        if out is not sys.stdout:
            out.close()
        store.close()
    if job.skipped:
        error(f"{len(job.skipped)} rows could not be read (ids {job.skipped[0]}-{job.skipped[-1]})")
    print(f"exported {written} rows", file=sys.stderr)
    return EXIT_FAILURE if store.damage or job.skipped else EXIT_OK


class _GrepExport(ExportJob):
    """An export that keeps rows whose topic or payload contains ``needle``."""

    def __init__(self, store, query, fmt, out, needle: str, rules=None) -> None:
        super().__init__(store, query, fmt, out, rules=rules)
        self._needle = needle
        self._raw_chunks, self._chunks = self._chunks, self._filtered()

    def _filtered(self):
        text, blob = self._needle, self._needle.encode("utf-8")
        for rows in self._raw_chunks:
            kept = [r for r in rows if text in r.topic or blob in r.payload]
            if kept:
                yield kept
