"""``eventscope sub``: print messages that match a stream filter, narrowed by region and text."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from datetime import datetime, timezone

from eventscope.core.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    add_connection_args,
    add_output_line_args,
    add_topic_arg,
    error,
    parse_duration,
    watch,
)
from eventscope.core.cli.decode_args import (
    add_decode_args,
    decoded_one_line,
    decoder_rules_from_args,
    profile_decoder_rules,
)
from eventscope.core.cli.message_output import message_format, message_line, shown_on_stdout
from eventscope.core.decoding.decoders import json_default
from eventscope.core.decoding.rules import export_fields
from eventscope.core.models.stream_filter import StreamFilter
from eventscope.core.payload_text import encode_for_export, escape_controls, preview, terminal_safe_json
from eventscope.core.records import MessageRecord
from eventscope.core.sparkplug.payload import is_sparkplug_topic
from eventscope.core.topics import TopicError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "sub", help="print matching messages",
        description="Subscribe to one or more filters and print the messages that match: the payload alone by "
                    "default, as mosquitto_sub does; -v for 'topic payload', -F for your own format, --format for "
                    "JSON lines or the annotated text with regions.")
    add_connection_args(parser)
    add_topic_arg(parser, "MQTT subscription filter (repeatable; default #)", subscribes=True, repeatable=True,
                  defaults=("#",))
    parser.add_argument("--region-level", type=int, default=0, help="topic level that names the region (default 0)")
    parser.add_argument("--regions", default="", metavar="A,B", help="comma-separated regions to keep (default: all)")
    parser.add_argument("--grep", default="", help="keep messages whose topic or payload contains this text")
    parser.add_argument("-C", "--count", type=int, default=0, help="exit after this many messages")
    parser.add_argument("-W", "--seconds", type=parse_duration, default=0, metavar="DURATION",
                        help="exit after this long, e.g. 30 or 2m (exit 0)")
    parser.add_argument("-q", "--qos", type=int, choices=(0, 1, 2), default=0, help="subscription QoS (default 0)")
    output = parser.add_mutually_exclusive_group()
    add_output_line_args(parser, "print 'topic payload' (an empty payload shows as '(null)')", group=output)
    output.add_argument("-F", "--format-string", type=message_format, default=None, metavar="FORMAT",
                        help="mosquitto_sub's output format: %%t topic, %%p payload, %%q QoS, %%r retain, "
                             "%%l length, %%m message id, %%I ISO time, %%j JSON, \\n newline, ... "
                             "(an unsupported sequence is an error)")
    output.add_argument("--format", choices=("jsonl", "text"), default=None,
                        help="jsonl: one JSON object per message (time, broker, topic, region, qos, retain, "
                             "payload, properties); text: 'topic [region] payload' with payload previews")
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


def _line_writer(args: argparse.Namespace, several: bool):
    """What one accepted message prints, as bytes, in the output mode the command line chose."""
    shown = shown_on_stdout()
    ending = "\n" if args.newline else ""

    def write(record: MessageRecord, region: str, decoded) -> bytes:
        if args.format == "jsonl":
            item = record_to_json(record, region)
            if decoded is not None:
                item.update(export_fields(decoded))
            return (terminal_safe_json(json.dumps(item, ensure_ascii=False, default=json_default)) + ending).encode()
        if args.format == "text":
            text = preview(record.payload) if decoded is None else decoded_one_line(decoded)
            line = f"{record.topic} [{region}] {text}"
            if several:
                line = f"[{record.broker_id}] {line}"
            # topics and decoded text may hold controls that drive a terminal
            return (escape_controls(line) + ending).encode("utf-8")
        if decoded is not None:  # asked to decode: the payload fields show the decoded form
            record = replace(record, payload=decoded_one_line(decoded).encode("utf-8"))
        if args.format_string is not None:
            return args.format_string.render(record, shown, args.newline)
        return message_line(record.topic, record.payload, args.verbose, shown, args.newline)

    return write


def run(args: argparse.Namespace) -> int:
    try:
        regions = frozenset(r.strip() for r in args.regions.split(",") if r.strip())
        stream_filters = [StreamFilter(topic_filter, args.region_level, regions, args.grep) for topic_filter in args.topics]
    except (TopicError, ValueError) as exc:
        error(str(exc))
        return EXIT_USAGE
    printed = 0
    write = _line_writer(args, several=len(args.profile) + len(args.broker) > 1)
    out = sys.stdout.buffer
    # Imported here, not at start-up: the launcher builds every command's parser, whichever one runs.
    from eventscope.core.connections.local import LocalConnector
    from eventscope.core.workspace.workspace import Workspace

    # The records only: no topic tree, which would grow for as long as the command runs.
    workspace = Workspace(connector=LocalConnector(args.connect_timeout), keep_tree=False, keep_records=True)
    # The workspace's Sparkplug state: its tick forgets a broker's aliases when that broker reconnects.
    try:
        rules = decoder_rules_from_args(args, workspace.sparkplug)
        rules_by_broker = profile_decoder_rules(args, workspace.sparkplug)  # each --profile's own rules
    except UsageError:
        workspace.close()
        raise
    try:
        for summary in watch(args, workspace, args.topics, args.qos, args.seconds):
            for record in summary.records:
                broker_rules = rules_by_broker.get(record.broker_id, rules)
                accepting = next((f for f in stream_filters if f.accepts(record)), None)
                if accepting is None:
                    if broker_rules is not None and is_sparkplug_topic(record.topic):
                        broker_rules.observe(record)  # the Sparkplug session state sees every message, in order
                    continue
                decoded = broker_rules.observe(record) if broker_rules is not None else None
                out.write(write(record, accepting.region(record), decoded))
                printed += 1
                if args.count and printed >= args.count:
                    return EXIT_OK
            out.flush()  # once a tick, not once a message: one write for a batch, still within 1/30 s
    except UsageError:
        raise  # exit 2 with the reason, from main()
    except Exception as exc:  # unreachable broker, or a refused subscription
        error(str(exc))
        return EXIT_FAILURE
    finally:
        out.flush()
    return EXIT_OK
