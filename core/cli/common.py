"""Connection options and helpers shared by the headless sub-commands."""

from __future__ import annotations

import argparse
import getpass
import os
import signal
import sys
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout

from eventscope.core.ingest import IngestBuffer
from dataclasses import replace

from eventscope.core.credentials import CredentialError
from eventscope.core.errors import describe_silent_peer
from eventscope.core.profile import MQTT_V5, MQTT_V311, ConnectionProfile, TlsSettings, parse_broker_address
from eventscope.core.session import MqttSession, ReadOnlyError, SessionState

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
    group.add_argument("--connect-timeout", type=positive_seconds, default=5.0,
                       help="seconds to wait for the broker's answer (default 5); a refusal fails at once")
    # SUPPRESS: without the flag here, the top-level ``eventscope --read-only`` value stays in force.
    group.add_argument("--read-only", action="store_true", default=argparse.SUPPRESS,
                       help="monitor mode: never publish (also a profile setting)")
    group.add_argument("--profile", metavar="NAME", action="append", default=[],
                       help="a saved connection profile (the window's); its password comes from the OS keychain")
    group.add_argument("--broker", metavar="NAME=URL", action="append", default=[],
                       help="a named broker, e.g. us-east=mqtt://east.example:1883 (repeat for several, where "
                            "the command takes several)")


def positive_seconds(text: str) -> float:
    """An argparse type: a number of seconds above 0 (a bad one is a usage error, exit 2)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: give more than 0 seconds")
    return value


def brokers_from_args(args: argparse.Namespace, **overrides) -> list[tuple[ConnectionProfile, str | None]]:
    """Every broker the command line names: ``--profile``s, ``--broker``s, or else ``--host``/``--port``.

    Each comes with its password (keychain for profiles, ``--password-env``/``--ask-password`` otherwise).
    """
    from eventscope.core.profile_store import ProfileError, ProfileStore

    if getattr(args, "read_only", False):
        overrides["read_only"] = True
    chosen: list[tuple[ConnectionProfile, str | None]] = []
    if args.profile:
        try:
            store = ProfileStore.load()
            for name in args.profile:
                stored = store.get(name)
                password = password_from_args(args) or store.password(name)
                chosen.append((stored.connection.with_changes(**overrides), password))
        except (ProfileError, CredentialError) as exc:
            raise UsageError(str(exc)) from exc
    for item in args.broker:
        name, sep, url = item.partition("=")
        if not sep or not name.strip() or not url.strip():
            raise UsageError(f"--broker takes NAME=URL, e.g. us-east=mqtt://127.0.0.1:1883 (got {item!r})")
        try:
            host, port, tls, transport = parse_broker_address(url)
            base = profile_from_args(args)
            chosen.append((base.with_changes(name=name.strip(), host=host, port=port, transport=transport,
                                             tls=replace(base.tls, enabled=base.tls.enabled or tls), **overrides),
                           password_from_args(args)))
        except ValueError as exc:
            raise UsageError(f"--broker {item}: {exc}") from exc
    names = [profile.name for profile, _ in chosen]
    if len(set(names)) != len(names):
        raise UsageError(f"Each broker needs its own name: {', '.join(names)}")
    chosen = chosen or [(profile_from_args(args, **overrides), password_from_args(args))]
    for profile, _ in chosen:
        if profile.tls.enabled and not profile.tls.verify:  # the window shows a red badge for this
            error(f"warning: TLS certificate verification is OFF for {profile.address}: "
                  "anyone between here and the broker can read and change the traffic")
    return chosen


def single_broker_from_args(args: argparse.Namespace, **overrides) -> tuple[ConnectionProfile, str | None]:
    brokers = brokers_from_args(args, **overrides)
    if len(brokers) > 1:
        raise UsageError("This command talks to one broker: give one --profile or --broker")
    return brokers[0]


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


def connect_session(args: argparse.Namespace, buffer: IngestBuffer | None = None, publishes: bool = False,
                    **session_options) -> MqttSession:
    """Start a session from the command line and wait until it is connected.

    A command that ``publishes`` is refused (``ReadOnlyError``) before anything is sent when its
    broker is read-only. Raises ``ConnectionError`` with the user-facing reason if it does not connect in time.
    """
    profile, password = session_options.pop("broker", None) or single_broker_from_args(
        args, **session_options.pop("profile_overrides", {}))
    if publishes and profile.read_only:
        raise ReadOnlyError(f"{profile.name} is read-only (monitor mode): this command publishes, so it does not run")
    session = MqttSession(profile, password=password, buffer=buffer, **session_options)
    timeout = min(args.connect_timeout, deadline_left(args))
    session.connack_timeout = timeout
    session.start()
    if session.wait_first_outcome(timeout):
        return session
    status = session.first_status
    session.stop(timeout=0.2)  # a connect still blocked on a black hole must not hold the exit
    raise ConnectionError(connect_failure(profile, status, timeout))


def connect_failure(profile: ConnectionProfile, status, timeout: float) -> str:
    """What went wrong on the first attempt, or, when nothing answered in time, what to check."""
    if status.state is SessionState.CONNECTING:
        return describe_silent_peer(profile.host, profile.port, timeout)
    return f"Cannot connect to {profile.address}: {status.message or 'no answer'}"


def deadline_left(args: argparse.Namespace) -> float:
    """Seconds left of the whole command's time limit (``args.deadline``, monotonic), if it has one."""
    deadline = getattr(args, "deadline", None)
    return float("inf") if deadline is None else max(0.0, deadline - time.monotonic())


def error(message: str) -> None:
    print(f"eventscope: {message}", file=sys.stderr)


def watch(args: argparse.Namespace, topic_filter: str, qos: int = 0, seconds: float = 0.0):
    """Connect read-only to every broker the command line names, subscribe, and yield merged batches
    (by arrival) until SIGTERM, Ctrl+C or ``seconds``. Each record's ``broker_id`` is its broker's name.

    Prints ``subscribed to F`` on stderr once every SUBACK is in, so scripts know when a publish
    will be seen. Raises ``ConnectionError`` if a broker cannot be reached, and the session's error
    if a broker refuses the subscription. Closing the generator early disconnects.
    """
    buffer = IngestBuffer()
    sessions: list[MqttSession] = []
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    deadline = time.monotonic() + seconds if seconds else None
    try:
        for profile, password in brokers_from_args(args, read_only=True):
            sessions.append(connect_session(args, buffer=buffer, broker=(profile, password), session_id=profile.name))
        for session in sessions:
            try:
                session.subscribe(topic_filter, qos).result(args.connect_timeout)
            except FutureTimeout:
                raise ConnectionError(f"{session.profile.address} did not answer the subscription to {topic_filter} "
                                      f"within {args.connect_timeout:g} s") from None
        print(f"subscribed to {topic_filter}", file=sys.stderr, flush=True)
        while True:
            finished = stop.is_set() or (deadline is not None and time.monotonic() >= deadline)
            batch = buffer.drain()
            if len(sessions) > 1:
                batch.sort(key=lambda record: record.received_mono)
            yield batch
            if finished:
                return
            stop.wait(POLL_SECONDS)
    except KeyboardInterrupt:
        return
    finally:
        for session in sessions:
            session.stop()
