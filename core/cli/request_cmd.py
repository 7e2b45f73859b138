"""``eventscope request``: send a request (or a burst), print each reply on stdout and its RTT on stderr."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from concurrent.futures import TimeoutError as FutureTimeout

from eventscope.core.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    add_connection_args,
    add_output_line_args,
    add_payload_args,
    add_topic_arg,
    connect_session,
    deadline_left,
    error,
    named_broker,
    payload_from_args,
    positive_duration,
    request_topics_valid,
    whole_seconds,
)
from eventscope.core.cli.message_output import message_line, shown_on_stdout
from eventscope.core.mqtt.session import SessionError
from eventscope.core.requests.tracker import DEFAULT_TIMEOUT, Reply, ReplyRouter, RequestRefused, RequestTracker


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "request", help="send a request and wait for the reply",
        description="Publish a request and print its reply (stdout) with the round-trip time (stderr), as "
                    "mosquitto_rr does. MQTT 5 correlates replies; MQTT 3.1.1 takes the next message on the reply topic.")
    add_connection_args(parser)
    add_topic_arg(parser, "request topic (or give it in -L)", subscribes=False, required=True)
    add_payload_args(parser)
    parser.add_argument("-e", "--reply-topic", default=None,
                        help="reply (response) topic (default: eventscope/<client-id>/reply; hello/response with -V 311)")
    parser.add_argument("-W", "--timeout", type=positive_duration, default=DEFAULT_TIMEOUT, metavar="DURATION",
                        help="time for the whole command, connecting included (default 5s); per reply with --count")
    parser.add_argument("-q", "--qos", type=int, choices=(0, 1, 2), default=0, help="QoS of the request (default 0)")
    add_output_line_args(parser, "print 'topic payload' for each reply")
    parser.add_argument("--content-type", default=None, help="MQTT 5 content type of the request")
    parser.add_argument("--message-expiry", type=whole_seconds(4294967295), default=None, metavar="DURATION",
                        help="MQTT 5 message expiry of the request, e.g. 30 or 5m")
    parser.add_argument("--user-property", nargs=2, action="append", metavar=("KEY", "VALUE"), default=[],
                        help="an MQTT 5 user property (repeatable)")
    parser.add_argument("-C", "--count", type=int, default=1, help="send this many requests (prints an RTT summary)")
    parser.add_argument("--concurrency", type=int, default=1, help="requests in flight at once with --count")
    parser.add_argument("--reply-broker", metavar="NAME=URL|PROFILE", default=None,
                        help="also wait for the reply on this broker: for a request that crosses a mesh of brokers")
    parser.set_defaults(run=run)


def _reply_printer(args: argparse.Namespace):
    """Each reply on stdout as mosquitto_rr prints it (payload, or ``-v`` topic and payload), its RTT on stderr."""
    shown = shown_on_stdout()

    def print_reply(reply: Reply) -> None:
        sys.stdout.buffer.write(message_line(reply.reply_topic, reply.payload, args.verbose, shown, args.newline))
        sys.stdout.flush()
        mark = "" if reply.correlated else " (uncorrelated)"
        via = f" via {reply.received_on}" if reply.received_on != reply.sent_on else ""
        print(f"reply on {reply.reply_topic}{via} in {reply.rtt * 1e3:.2f} ms{mark}", file=sys.stderr)

    return print_reply


def run(args: argparse.Namespace) -> int:
    if not request_topics_valid(args):
        return EXIT_USAGE
    payload = payload_from_args(args)
    if args.count < 1 or args.concurrency < 1:
        error("--count and --concurrency must be at least 1")
        return EXIT_USAGE
    if args.count == 1:
        args.deadline = time.monotonic() + args.timeout
    sessions = []
    router = ReplyRouter()
    try:
        session = connect_session(args, buffer_messages=False, publishes=True)
        sessions.append(session)
        tracker = RequestTracker(session, router=router)
        if args.reply_broker:
            reply_profile, password = named_broker(args, args.reply_broker)
            reply_session = connect_session(args, broker=(reply_profile, password), buffer_messages=False,
                                            session_id=reply_profile.name)
            sessions.append(reply_session)
            reply_session.add_tap(router.dispatch)  # its messages reach the tracker that sent the request
            reply_topic = args.reply_topic or tracker.default_reply_topic()
            try:
                reply_session.subscribe(reply_topic, 1).result(min(args.connect_timeout, deadline_left(args)))
            except FutureTimeout:  # not the built-in TimeoutError before Python 3.11
                raise ConnectionError(f"{reply_profile.address} did not answer the subscription to {reply_topic} "
                                      "in time") from None
    except (ConnectionError, SessionError) as exc:
        error(str(exc))
        for started in sessions:
            started.stop()
        return EXIT_FAILURE
    timeout = min(args.timeout, deadline_left(args))
    if not timeout > 0:
        error(f"no time left for the reply: connecting used the whole --timeout of {args.timeout:g} s")
        for started in sessions:
            started.stop()
        return EXIT_FAILURE
    options = dict(qos=args.qos, reply_topic=args.reply_topic, timeout=timeout,
                   user_properties=tuple(tuple(p) for p in args.user_property),
                   content_type=args.content_type, message_expiry=args.message_expiry)
    try:
        summary = asyncio.run(tracker.burst(args.topic, payload, args.count, args.concurrency,
                                            on_reply=_reply_printer(args), on_failure=lambda exc: error(str(exc)),
                                            **options))
    except RequestRefused as exc:
        error(str(exc))
        return EXIT_USAGE
    finally:
        tracker.close()
        for started in sessions:
            started.stop()
    if args.count > 1:
        print(summary.text(), file=sys.stderr)
    return EXIT_OK if summary.failures == 0 else EXIT_FAILURE
