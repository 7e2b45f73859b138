"""``eventscope sub``: print messages that match a stream filter, narrowed by region and text."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from datetime import datetime, timezone

from core.cli.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, add_connection_args, connect_session, error
from core.ingest import IngestBuffer
from core.payload_text import encode_for_export, preview
from core.records import MessageRecord
from core.stream_filter import StreamFilter
from core.topics import TopicError

POLL_SECONDS = 0.05


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("sub", help="print matching messages",
                                   description="Subscribe to a filter and print the messages that match.")
    add_connection_args(parser)
    parser.add_argument("--filter", "-t", default="#", help="MQTT subscription filter (default #)")
    parser.add_argument("--region-level", type=int, default=0, help="topic level that names the region (default 0)")
    parser.add_argument("--regions", default="", help="comma-separated regions to keep (default: all)")
    parser.add_argument("--grep", default="", help="keep messages whose topic or payload contains this text")
    parser.add_argument("--count", "-C", type=int, default=0, help="exit after this many messages")
    parser.add_argument("--seconds", type=float, default=0, help="exit after this many seconds")
    parser.add_argument("--qos", "-q", type=int, choices=(0, 1, 2), default=0)
    parser.add_argument("--format", choices=("jsonl", "text"), default="text")
    parser.set_defaults(run=run)


def record_to_json(record: MessageRecord, region: str) -> dict:
    payload, encoding = encode_for_export(record.payload)
    out = {
        "time": datetime.fromtimestamp(record.received, timezone.utc).isoformat(),
        "topic": record.topic,
        "region": region,
        "qos": record.qos,
        "retain": record.retain,
        "payload": payload,
        "properties": record.properties.as_dict(),
    }
    if encoding == "base64":
        out["payload_encoding"] = "base64"
    return out


def run(args: argparse.Namespace) -> int:
    try:
        regions = frozenset(r.strip() for r in args.regions.split(",") if r.strip())
        stream_filter = StreamFilter(args.filter, args.region_level, regions, args.grep)
    except (TopicError, ValueError) as exc:
        error(str(exc))
        return EXIT_USAGE
    buffer = IngestBuffer()
    try:
        session = connect_session(args, buffer=buffer, profile_overrides={"read_only": True})
    except ConnectionError as exc:
        error(str(exc))
        return EXIT_FAILURE
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    printed = 0
    deadline = time.monotonic() + args.seconds if args.seconds else None
    try:
        session.subscribe(args.filter, args.qos).result(args.connect_timeout)
        # A line on stderr once the SUBACK is in, so scripts know when publishing will be seen.
        print(f"subscribed to {args.filter}", file=sys.stderr, flush=True)
        while not stop.is_set():
            for record in buffer.drain():
                if not stream_filter.accepts(record):
                    continue
                region = stream_filter.region(record)
                if args.format == "jsonl":
                    line = json.dumps(record_to_json(record, region), ensure_ascii=False)
                else:
                    line = f"{record.topic} [{region}] {preview(record.payload)}"
                print(line, flush=True)
                printed += 1
                if args.count and printed >= args.count:
                    return EXIT_OK
            if deadline is not None and time.monotonic() >= deadline:
                break
            stop.wait(POLL_SECONDS)
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # a refused subscription, for example
        error(str(exc))
        return EXIT_FAILURE
    finally:
        session.stop()
        sys.stdout.flush()
    return EXIT_OK
