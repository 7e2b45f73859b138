"""``eventscope sub``: print messages that match a stream filter, narrowed by region and text."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone

from eventscope.core.cli.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, add_connection_args, error, watch
from eventscope.core.cli.decode_args import add_decode_args, decoded_one_line, decoder_rules_from_args
from eventscope.core.decoder_rules import export_fields
from eventscope.core.decoders import json_default
from eventscope.core.payload_text import encode_for_export, escape_controls, preview, terminal_safe_json
from eventscope.core.records import MessageRecord
from eventscope.core.sparkplug import is_sparkplug_topic
from eventscope.core.stream_filter import StreamFilter
from eventscope.core.topics import TopicError



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
    add_decode_args(parser)
    parser.set_defaults(run=run)


def record_to_json(record: MessageRecord, region: str) -> dict:
    payload, encoding = encode_for_export(record.payload)
    out = {
        "time": datetime.fromtimestamp(record.received, timezone.utc).isoformat(),
        "broker": record.broker_id,
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
    rules = decoder_rules_from_args(args)
    printed = 0
    several = len(args.profile) + len(args.broker) > 1
    try:
        for batch in watch(args, args.filter, args.qos, args.seconds):
            for record in batch:
                if not stream_filter.accepts(record):
                    if rules is not None and is_sparkplug_topic(record.topic):
                        rules.observe(record)  # the Sparkplug session state sees every message, in order
                    continue
                region = stream_filter.region(record)
                decoded = rules.observe(record) if rules is not None else None
                if args.format == "jsonl":
                    item = record_to_json(record, region)
                    if decoded is not None:
                        item.update(export_fields(decoded))
                    line = terminal_safe_json(json.dumps(item, ensure_ascii=False, default=json_default))
                else:
                    shown = preview(record.payload) if decoded is None else decoded_one_line(decoded)
                    line = f"{record.topic} [{region}] {shown}"
                    if several:
                        line = f"[{record.broker_id}] {line}"
                    line = escape_controls(line)  # topics and decoded text may hold controls that drive a terminal
                print(line, flush=True)
                printed += 1
                if args.count and printed >= args.count:
                    return EXIT_OK
    except UsageError:
        raise  # exit 2 with the reason, from main()
    except Exception as exc:  # unreachable broker, or a refused subscription
        error(str(exc))
        return EXIT_FAILURE
    finally:
        sys.stdout.flush()
    return EXIT_OK
