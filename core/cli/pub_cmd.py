"""``eventscope pub``: publish one message (or a file) and exit."""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import TimeoutError as FutureTimeout

from eventscope.core.cli.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, add_connection_args, connect_session, error
from eventscope.core.records import MessageProperties
from eventscope.core.session import SessionError
from eventscope.core.topics import TopicError, validate_topic

PUBLISH_ACK_SECONDS = 10.0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("pub", help="publish a message", description="Publish one message and exit.")
    add_connection_args(parser)
    parser.add_argument("--topic", "-t", required=True)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--payload", "-m", default=None, help="payload text")
    source.add_argument("--file", "-f", type=argparse.FileType("rb"), help="read the payload from a file ('-' for stdin)")
    parser.add_argument("--qos", "-q", type=int, choices=(0, 1, 2), default=0)
    parser.add_argument("--retain", "-r", action="store_true")
    parser.add_argument("--content-type", default=None)
    parser.add_argument("--user-property", nargs=2, action="append", metavar=("KEY", "VALUE"), default=[])
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        validate_topic(args.topic)
    except TopicError as exc:
        error(str(exc))
        return EXIT_USAGE
    payload = args.file.read() if args.file else (args.payload or "").encode("utf-8")
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
