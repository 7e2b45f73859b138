"""Connection options and helpers shared by the headless sub-commands."""

from __future__ import annotations

import argparse
import getpass
import os
import signal
import sys
import threading
import time

from core.ingest import IngestBuffer
from core.profile import MQTT_V5, MQTT_V311, ConnectionProfile, TlsSettings
from core.session import MqttSession, SessionState

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
POLL_SECONDS = 0.05  # how often headless commands drain their buffer


class UsageError(Exception):
    """Bad command-line input: printed to stderr, exit code 2."""


def add_connection_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument("--host", default="127.0.0.1", help="broker host (default 127.0.0.1)")
    group.add_argument("--port", type=int, default=1883, help="broker port (default 1883)")
    group.add_argument("--mqtt", choices=("3", "5"), default="5", help="MQTT version: 3 (3.1.1) or 5 (default)")
    group.add_argument("--username", "-u", default="")
    group.add_argument("--password-env", metavar="VAR", default="",
                       help="read the password from this environment variable (never pass it on the command line)")
    group.add_argument("--ask-password", action="store_true", help="prompt for the password")
    group.add_argument("--tls", action="store_true", help="use TLS")
    group.add_argument("--cafile", default="", help="CA certificate file for TLS")
    group.add_argument("--cert", default="", help="client certificate file")
    group.add_argument("--key", default="", help="client key file")
    group.add_argument("--insecure", action="store_true", help="do not verify the broker's TLS certificate")
    group.add_argument("--client-id", default="", help="client id (default: unique per run)")
    group.add_argument("--websockets", metavar="PATH", nargs="?", const="/mqtt", default=None,
                       help="connect over websockets (path default /mqtt)")
    group.add_argument("--connect-timeout", type=float, default=10.0, help="seconds to wait for the connection")


def profile_from_args(args: argparse.Namespace, **overrides) -> ConnectionProfile:
    try:
        return ConnectionProfile(
            name=f"{args.host}:{args.port}", host=args.host, port=args.port,
            transport="websockets" if args.websockets else "tcp", ws_path=args.websockets or "/mqtt",
            tls=TlsSettings(enabled=args.tls or bool(args.cafile), ca_file=args.cafile, cert_file=args.cert,
                            key_file=args.key, verify=not args.insecure),
            username=args.username, client_id=args.client_id,
            mqtt_version=MQTT_V5 if args.mqtt == "5" else MQTT_V311, **overrides,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def password_from_args(args: argparse.Namespace) -> str | None:
    if args.password_env:
        return os.environ.get(args.password_env)
    if args.ask_password:
        return getpass.getpass("Password: ")
    return None


def connect_session(args: argparse.Namespace, buffer: IngestBuffer | None = None, **session_options) -> MqttSession:
    """Start a session from the command line and wait until it is connected.

    Raises ``ConnectionError`` with the user-facing reason if it does not connect in time.
    """
    profile = profile_from_args(args, **session_options.pop("profile_overrides", {}))
    session = MqttSession(profile, password=password_from_args(args), buffer=buffer, **session_options)
    session.start()
    deadline = time.monotonic() + args.connect_timeout
    while time.monotonic() < deadline:
        if session.wait_connected(0.1):
            return session
        if session.status.state is SessionState.DISCONNECTED:
            break
    status = session.status
    session.stop()
    reason = status.message or "no answer"
    raise ConnectionError(f"Cannot connect to {profile.address}: {reason}")


def error(message: str) -> None:
    print(f"eventscope: {message}", file=sys.stderr)


def watch(args: argparse.Namespace, topic_filter: str, qos: int = 0, seconds: float = 0.0):
    """Connect read-only, subscribe, and yield drained batches until SIGTERM, Ctrl+C or ``seconds``.

    Prints ``subscribed to F`` on stderr once the SUBACK is in, so scripts know when a publish
    will be seen. Raises ``ConnectionError`` if it cannot connect, and the session's error if
    the broker refuses the subscription. Closing the generator early disconnects.
    """
    buffer = IngestBuffer()
    session = connect_session(args, buffer=buffer, profile_overrides={"read_only": True})
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    deadline = time.monotonic() + seconds if seconds else None
    try:
        session.subscribe(topic_filter, qos).result(args.connect_timeout)
        print(f"subscribed to {topic_filter}", file=sys.stderr, flush=True)
        while True:
            finished = stop.is_set() or (deadline is not None and time.monotonic() >= deadline)
            yield buffer.drain()
            if finished:
                return
            stop.wait(POLL_SECONDS)
    except KeyboardInterrupt:
        return
    finally:
        session.stop()
