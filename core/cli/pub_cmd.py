"""``eventscope pub``: publish one message (or a file) and exit."""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import TimeoutError as FutureTimeout

from eventscope.core.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    add_connection_args,
    add_payload_args,
    add_topic_arg,
    connect_session,
    error,
    payload_from_args,
)
from eventscope.core.mqtt.session import SessionError
from eventscope.core.records import MessageProperties
from eventscope.core.topics import TopicError, validate_topic

PUBLISH_ACK_SECONDS = 10.0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("pub", help="publish a message",
                                   description="Publish one message (text, a file or stdin) and exit, "
                                               "as mosquitto_pub does.")
    add_connection_args(parser)
    add_topic_arg(parser, "topic to publish to (or give it in -L)", subscribes=False, required=True)
    add_payload_args(parser)
    parser.add_argument("-q", "--qos", type=int, choices=(0, 1, 2), default=0, help="QoS (default 0)")
    parser.add_argument("-r", "--retain", action="store_true", help="ask the broker to retain the message")
    parser.add_argument("--content-type", default=None, help="MQTT 5 content type, e.g. application/json")
    parser.add_argument("--user-property", nargs=2, action="append", metavar=("KEY", "VALUE"), default=[],
                        help="an MQTT 5 user property (repeatable)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        validate_topic(args.topic)
    except TopicError as exc:
        error(str(exc))
        return EXIT_USAGE
    payload = payload_from_args(args)
    try:
        session = connect_session(args, publishes=True)
    except (ConnectionError, SessionError) as exc:
        error(str(exc))
        return EXIT_FAILURE
    try:
        props = MessageProperties(content_type=args.content_type,
                                  user_properties=tuple(tuple(p) for p in args.user_property))
        session.publish(args.topic, payload, qos=args.qos, retain=args.retain, properties=props).result(PUBLISH_ACK_SECONDS)
    except FutureTimeout:  # not the built-in TimeoutError before Python 3.11
        error(f"The broker did not acknowledge the publish to {args.topic} within {PUBLISH_ACK_SECONDS:g} s")
        return EXIT_FAILURE
    except (SessionError, ValueError) as exc:
        error(str(exc))
        return EXIT_FAILURE
    finally:
        session.stop()
    print(f"published {len(payload)} bytes to {args.topic}", file=sys.stderr)
    return EXIT_OK
