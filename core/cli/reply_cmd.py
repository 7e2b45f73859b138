"""``eventscope reply``: answer requests on a filter until interrupted (SIGINT/SIGTERM)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from concurrent.futures import TimeoutError as FutureTimeout

from eventscope.core.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    add_connection_args,
    add_topic_arg,
    connect_session,
    error,
)
from eventscope.core.mqtt.session import SessionError
from eventscope.core.payload_text import preview
from eventscope.core.records import MessageRecord
from eventscope.core.requests.replier import (
    DEFAULT_FIXED_REPLY_TOPIC,
    DEFAULT_REQUEST_FILTER,
    Replier,
    demo_reply_handler,
    echo_handler,
    fixed_reply_handler,
)
from eventscope.core.topics import TopicError, validate_filter, validate_topic


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "reply", help="answer requests until interrupted",
        description="Answer every request on a filter: on its ResponseTopic with its CorrelationData (MQTT 5), "
                    "else on the fixed reply topic. Echoes the request unless told otherwise.")
    add_connection_args(parser)
    add_topic_arg(parser, f"request filter (default {DEFAULT_REQUEST_FILTER})", subscribes=True,
                  defaults=(DEFAULT_REQUEST_FILTER,))
    parser.add_argument("-e", "--reply-topic", default=DEFAULT_FIXED_REPLY_TOPIC,
                        help=f"reply topic for requests without a ResponseTopic (default {DEFAULT_FIXED_REPLY_TOPIC})")
    answer = parser.add_mutually_exclusive_group()
    answer.add_argument("--reply-payload", default=None, metavar="TEXT", help="always answer this text (default: echo)")
    answer.add_argument("--demo", action="store_true", help="answer JSON with the region served, the request and the time")
    parser.add_argument("-q", "--qos", type=int, choices=(0, 1, 2), default=0, help="subscription QoS")
    parser.set_defaults(run=run)


def _log_served(request: MessageRecord, reply_topic: str, payload: bytes) -> None:
    print(f"served {request.topic} -> {reply_topic} ({len(payload)} B): {preview(request.payload, 80)}",
          file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    try:
        validate_filter(args.topic)
        validate_topic(args.reply_topic)
    except TopicError as exc:
        error(str(exc))
        return EXIT_USAGE
    if args.reply_payload is not None:
        handler = fixed_reply_handler(args.reply_payload)
    else:
        handler = demo_reply_handler if args.demo else echo_handler
    try:
        session = connect_session(args, buffer_messages=False, publishes=True)
    except (ConnectionError, SessionError) as exc:
        error(str(exc))
        return EXIT_FAILURE
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    replier = Replier(session, args.topic, args.reply_topic, handler, qos=args.qos, on_served=_log_served)
    try:
        replier.start().result(args.connect_timeout)
        print(f"serving {args.topic} (fallback reply topic {args.reply_topic}); Ctrl+C to stop",
              file=sys.stderr, flush=True)
        while not stop.wait(0.2):
            pass
    except FutureTimeout:  # not the built-in TimeoutError before Python 3.11
        error(f"{session.profile.address} did not answer the subscription to {args.topic} "
              f"within {args.connect_timeout:g} s")
        return EXIT_FAILURE
    except Exception as exc:  # a refused subscription, for example
        error(str(exc) or type(exc).__name__)
        return EXIT_FAILURE
    finally:
        replier.stop()
        session.stop()
    print(f"served {replier.served} requests", file=sys.stderr, flush=True)
    return EXIT_OK
