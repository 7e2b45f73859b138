"""Connection options and helpers shared by the headless sub-commands."""

from __future__ import annotations

import argparse
import getpass
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, cast
from urllib.parse import unquote

from eventscope.core.console import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, error  # noqa: F401 (the CLI's names)
from eventscope.core.mqtt.failures import describe_connect_exception, describe_silent_peer
from eventscope.core.mqtt.ingest import IngestBuffer
from eventscope.core.mqtt.session import MqttSession, ReadOnlyError, SessionState
from eventscope.core.profile import MQTT_V5, MQTT_V311, ConnectionProfile, TlsSettings, parse_broker_address
from eventscope.core.profiles.credentials import CredentialError
from eventscope.core.topics import TopicError, validate_topic

if TYPE_CHECKING:  # the commands that watch import the workspace when they run, not at every start-up
    from eventscope.core.workspace.changes import ChangeSummary
    from eventscope.core.workspace.workspace import Workspace

POLL_SECONDS = 0.05  # how often headless commands tick their workspace


class UsageError(Exception):
    """Bad command-line input: printed to stderr, exit code 2."""


class CommandParser(argparse.ArgumentParser):
    """A sub-command's parser, with the mosquitto clients' conventions.

    ``-h`` is the host there, so help is ``--help`` only. Any usage error, an unknown option
    included, prints this sub-command's usage (not the top-level one) and exits 2. After parsing,
    ``-L URL`` fills in the connection and the topic, and the topic rule of the command is applied.
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs["add_help"] = False
        super().__init__(*args, **kwargs)
        self.add_argument("--help", action="help", default=argparse.SUPPRESS, help="show this help and exit")

    def error(self, message: str) -> None:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:  # the top-level parser would report them with its own usage
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        if getattr(namespace, "command_parser", None) is None:  # the innermost: audit record, not audit
            namespace.command_parser = self
        try:
            _apply_url(namespace)
            _apply_topic_rule(namespace)
        except ValueError as exc:
            self.error(str(exc))
        return namespace, extras


@dataclass(frozen=True)
class TopicRule:
    """How a command takes ``-t``: once or repeatedly, required or with defaults."""

    repeatable: bool = False
    required: bool = False
    defaults: tuple[str, ...] = ()


def add_topic_arg(parser: argparse.ArgumentParser, help_text: str, *, subscribes: bool, repeatable: bool = False,
                  required: bool = False, defaults: tuple[str, ...] = ()) -> None:
    """``-t/--topic`` (``--filter`` too where the command subscribes), the one topic option of every command.

    After parsing, a repeatable command has ``args.topics`` (a list), the others ``args.topic``.
    """
    names = ("-t", "--topic", "--filter") if subscribes else ("-t", "--topic")
    parser.add_argument(*names, dest="topics", action="append", default=None,
                        metavar="FILTER" if subscribes else "TOPIC", help=help_text)
    parser.set_defaults(topic_rule=TopicRule(repeatable, required, defaults))


def _apply_topic_rule(namespace: argparse.Namespace) -> None:
    rule = getattr(namespace, "topic_rule", None)
    if rule is None:
        return
    topics = list(namespace.topics or ())
    if not topics and rule.required:
        raise ValueError("a topic is required: -t TOPIC (or -L URL ending in /TOPIC)")
    if len(topics) > 1 and not rule.repeatable:
        raise ValueError(f"this command takes one topic, not {len(topics)}: {', '.join(topics)}")
    topics = topics or list(rule.defaults)
    if rule.repeatable:
        namespace.topics = topics
    else:
        namespace.topic = topics[0] if topics else None
    delattr(namespace, "topic_rule")  # applied once, even when a parent parser finishes after this one


@dataclass(frozen=True)
class MqttUrl:
    host: str
    port: int
    tls: bool
    username: str
    password: str | None
    topic: str


def parse_mqtt_url(text: str) -> MqttUrl:
    """``mqtt[s]://[USER[:PASSWORD]@]HOST[:PORT]/TOPIC``, as mosquitto's ``-L`` reads it: everything after
    the first ``/`` is the topic, ``#`` and ``+`` included. Messages never repeat the password."""
    scheme, sep, rest = text.partition("://")
    authority, _, topic = rest.partition("/")
    userinfo, _, hostport = authority.rpartition("@")
    username, colon, password = userinfo.partition(":")
    shown = f"{scheme}://{username}:***@{hostport}/{topic}" if colon else text
    if not sep or scheme.lower() not in ("mqtt", "mqtts"):
        raise ValueError(f"-L takes mqtt://[USER[:PASSWORD]@]HOST[:PORT]/TOPIC (or mqtts://), not {shown!r}")
    tls = scheme.lower() == "mqtts"
    if hostport.startswith("["):  # an IPv6 literal
        host, _, port_text = hostport[1:].partition("]")
        port_text = port_text[1:] if port_text.startswith(":") else port_text
    else:
        host, _, port_text = hostport.partition(":")
    if not host:
        raise ValueError(f"-L {shown!r}: no host")
    try:
        port = port_number(port_text) if port_text else (8883 if tls else 1883)
    except argparse.ArgumentTypeError as exc:
        raise ValueError(f"-L {shown!r}: {exc}") from None
    return MqttUrl(host, port, tls, unquote(username), unquote(password) if colon else None, topic)


def _apply_url(namespace: argparse.Namespace) -> None:
    """``-L URL`` replaces ``-h``, ``-p``, ``-u`` and ``-P``, and adds its topic to ``-t``."""
    url = getattr(namespace, "url", None)
    if not url:
        return
    parsed = parse_mqtt_url(url)
    namespace.url = None  # applied once, even when a parent parser finishes after this one
    namespace.host, namespace.port = parsed.host, parsed.port
    namespace.tls = namespace.tls or parsed.tls
    if parsed.username:
        namespace.username = parsed.username
    if parsed.password is not None:
        namespace.password = parsed.password
    if parsed.topic:
        namespace.topics = [*(namespace.topics or ()), parsed.topic]


def add_connection_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument("-h", "--host", default="127.0.0.1", help="broker host (default 127.0.0.1)")
    group.add_argument("-p", "--port", type=port_number, default=1883, help="broker port (default 1883)")
    group.add_argument("-V", "--mqtt", type=protocol_version, default="5", metavar="VERSION",
                       help="MQTT version: 5 or mqttv5 (default), 311 or mqttv311 (3 also means 3.1.1)")
    group.add_argument("-L", "--url", metavar="URL", default=None,
                       help="mqtt[s]://[USER[:PASSWORD]@]HOST[:PORT]/TOPIC: host, port, user, password and topic "
                            "in one (replaces -h, -p, -u, -P; adds to -t)")
    group.add_argument("-u", "--username", default="", help="user name")
    group.add_argument("-P", "--password", default=None,
                       help="password (other users of this machine can read it in the process list: "
                            "--password-env or --ask-password keep it off the command line)")
    group.add_argument("--password-env", metavar="VAR", default="",
                       help="read the password from this environment variable")
    group.add_argument("--ask-password", action="store_true", help="prompt for the password")
    group.add_argument("--tls", action="store_true", help="use TLS")
    group.add_argument("--cafile", default="", help="CA certificate file for TLS")
    group.add_argument("--cert", default="", help="client certificate file")
    group.add_argument("--key", default="", help="client key file")
    group.add_argument("--insecure", action="store_true", help="do not verify the broker's TLS certificate")
    group.add_argument("-i", "--client-id", default="", help="client id (default: unique per run)")
    group.add_argument("-k", "--keepalive", type=whole_seconds(65535), default=None, metavar="DURATION",
                       help="keepalive interval, e.g. 60 or 1m (default 30 s; 0 turns it off)")
    group.add_argument("--websockets", metavar="PATH", nargs="?", const="/mqtt", default=None,
                       help="connect over websockets (path default /mqtt)")
    group.add_argument("--connect-timeout", type=positive_duration, default=5.0, metavar="DURATION",
                       help="how long to wait for the broker's answer (default 5s); a refusal fails at once")
    # SUPPRESS: without the flag here, the top-level ``eventscope --read-only`` value stays in force.
    group.add_argument("--read-only", action="store_true", default=argparse.SUPPRESS,
                       help="monitor mode: never publish (also a profile setting)")
    group.add_argument("--profile", metavar="NAME", action="append", default=[],
                       help="a saved connection profile (the window's); its password comes from the OS keychain")
    group.add_argument("--broker", metavar="NAME=URL", action="append", default=[],
                       help="a named broker, e.g. us-east=mqtt://east.example:1883 (repeat for several, where "
                            "the command takes several)")


def add_output_line_args(parser: argparse.ArgumentParser, verbose_help: str, group=None) -> None:
    """``-v`` and ``-N``, as mosquitto_sub and mosquitto_rr print messages (``-v`` in ``group`` if given)."""
    (group or parser).add_argument("-v", "--verbose", action="store_true", help=verbose_help)
    parser.add_argument("-N", "--no-newline", dest="newline", action="store_false",
                        help="do not end each message with a newline")


def add_payload_args(parser: argparse.ArgumentParser) -> None:
    """``-m TEXT`` or ``-f FILE``, as mosquitto_pub and mosquitto_rr take a payload."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument("-m", "--payload", default=None, help="payload text (default: empty)")
    source.add_argument("-f", "--file", type=argparse.FileType("rb"),
                        help="read the payload from a file ('-' for stdin)")


def payload_from_args(args: argparse.Namespace) -> bytes:
    if args.file:
        with args.file:
            return args.file.read()
    return (args.payload or "").encode("utf-8")


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 1 to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"port {value} is out of range 1-65535")
    return value


_PROTOCOL_VERSIONS = {"5": "5", "mqttv5": "5", "311": "3", "mqttv311": "3", "3": "3"}


def protocol_version(text: str) -> str:
    """An argparse type for ``-V``/``--mqtt``: ``"5"`` or ``"3"`` (3.1.1), from mosquitto's spellings too."""
    version = _PROTOCOL_VERSIONS.get(text.strip().lower())
    if version is None:
        older = " (MQTT 3.1 is not supported)" if text.strip().lower() in ("31", "mqttv31") else ""
        raise argparse.ArgumentTypeError(f"{text!r}: use 5, mqttv5, 311 or mqttv311{older}")
    return version


_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds from ``5``, ``5s``, ``2m``, ``1h`` or ``7d``: every duration option reads this one format.

    An argparse type (a bad one is a usage error, exit 2); 0 is allowed.
    """
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: use seconds or a number with s, m, h or d "
                                         "(5, 5s, 2m, 7d)")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds > threading.TIMEOUT_MAX:  # longer waits overflow the clock the waits use
        raise argparse.ArgumentTypeError(f"{text!r} is longer than this system can wait")
    return seconds


def positive_duration(text: str) -> float:
    """An argparse type: a duration above 0."""
    seconds = parse_duration(text)
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give more than 0 seconds")
    return seconds


def whole_seconds(maximum: int):
    """An argparse type: a duration in whole seconds from 0 to ``maximum`` (MQTT sends these as integers)."""
    def parse(text: str) -> int:
        seconds = parse_duration(text)
        if seconds != int(seconds) or seconds > maximum:
            raise argparse.ArgumentTypeError(f"{text!r}: give whole seconds from 0 to {maximum}")
        return int(seconds)
    return parse


def brokers_from_args(args: argparse.Namespace, **overrides) -> list[tuple[ConnectionProfile, str | None]]:
    """Every broker the command line names: ``--profile``s, ``--broker``s, or else ``--host``/``--port``.

    Each comes with its password (keychain for profiles, ``--password-env``/``--ask-password`` otherwise).
    """
    from eventscope.core.profiles.store import ProfileError, ProfileStore

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
            mqtt_version=MQTT_V5 if args.mqtt == "5" else MQTT_V311,
            **({} if args.keepalive is None else {"keepalive": args.keepalive}), **overrides,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def password_from_args(args: argparse.Namespace) -> str | None:
    if args.password is not None:
        return args.password
    if args.password_env:
        return os.environ.get(args.password_env)
    if args.ask_password:
        return getpass.getpass("Password: ")
    return None


def named_broker(args: argparse.Namespace, spec: str) -> tuple[ConnectionProfile, str | None]:
    """One more broker for a command (``--reply-broker``): NAME=URL, or the name of a saved profile; read-only,
    as it is only listened to."""
    parts = argparse.Namespace(**{**vars(args), "broker": [spec] if "=" in spec else [],
                                  "profile": [] if "=" in spec else [spec]})
    return single_broker_from_args(parts, read_only=True)


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
    return await_first_outcome(session, timeout)


def connect_to_workspace(args: argparse.Namespace, workspace: Workspace, profile: ConnectionProfile,
                         password: str | None) -> MqttSession:
    """Add one broker to ``workspace`` (named after its profile, with no subscriptions yet) and wait until it
    is connected, as ``connect_session`` does. Raises ``ConnectionError`` with the user-facing reason."""
    timeout = min(args.connect_timeout, deadline_left(args))
    connection = workspace.add_broker(profile, password, subscriptions=(), broker_id=profile.name)
    session = cast(MqttSession, connection.session)  # the default LocalConnector: a session in this process
    session.connack_timeout = timeout  # reconnects too wait what the command allows (the first did: LocalConnector)
    return await_first_outcome(session, timeout)


def await_first_outcome(session: MqttSession, timeout: float) -> MqttSession:
    """Wait for a started session's first connection attempt; on failure stop it and raise ``ConnectionError``."""
    if session.wait_first_outcome(timeout):
        return session
    status = session.first_status
    session.stop(timeout=0.2)  # a connect still blocked on a black hole must not hold the exit
    raise ConnectionError(connect_failure(session.profile, status, timeout, session.tcp_open))


def connect_failure(profile: ConnectionProfile, status, timeout: float, tcp_open: bool = True) -> str:
    """What went wrong on the first attempt, or, when nothing answered in time, what to check: a host that
    never completed the TCP handshake is not a port that does not speak MQTT."""
    if status.state is SessionState.CONNECTING:
        if not tcp_open:
            return describe_connect_exception(TimeoutError(), profile.host, profile.port, timeout=timeout)
        return describe_silent_peer(profile.host, profile.port, timeout)
    return f"Cannot connect to {profile.address}: {status.message or 'no answer'}"


def deadline_left(args: argparse.Namespace) -> float:
    """Seconds left of the whole command's time limit (``args.deadline``, monotonic), if it has one."""
    deadline = getattr(args, "deadline", None)
    return float("inf") if deadline is None else max(0.0, deadline - time.monotonic())


def watch(args: argparse.Namespace, workspace: Workspace, topic_filters: list[str], qos: int = 0,
          seconds: float = 0.0) -> Iterator[ChangeSummary]:
    """Connect read-only to every broker the command line names through ``workspace``, subscribe to each
    filter, and yield one ``workspace.tick()`` summary at a time until SIGTERM, Ctrl+C or ``seconds``. Each
    broker is named after its profile, and so is each record's ``broker_id``.

    Prints ``subscribed to F1, F2`` on stderr once every SUBACK is in, so scripts know when a publish
    will be seen. Raises ``ConnectionError`` if a broker cannot be reached, and the session's error
    if a broker refuses the subscription. The end, an error, or closing the generator early closes
    ``workspace`` (every broker disconnects).
    """
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    deadline = time.monotonic() + seconds if seconds else None
    try:
        sessions = [connect_to_workspace(args, workspace, profile, password)
                    for profile, password in brokers_from_args(args, read_only=True)]
        for session in sessions:
            for topic_filter in topic_filters:
                try:
                    workspace.subscriptions.subscribe(session.session_id, topic_filter, qos).result(args.connect_timeout)
                except FutureTimeout:
                    raise ConnectionError(f"{session.profile.address} did not answer the subscription to "
                                          f"{topic_filter} within {args.connect_timeout:g} s") from None
        print(f"subscribed to {', '.join(topic_filters)}", file=sys.stderr, flush=True)
        while True:
            finished = stop.is_set() or (deadline is not None and time.monotonic() >= deadline)
            yield workspace.tick()
            if finished:
                return
            stop.wait(POLL_SECONDS)
    except KeyboardInterrupt:
        return
    finally:
        workspace.close()


def request_topics_valid(args: argparse.Namespace) -> bool:
    """Whether ``--topic`` and ``--reply-topic`` (if given) are topics to publish to; says why not."""
    try:
        validate_topic(args.topic)
        if args.reply_topic is not None:
            validate_topic(args.reply_topic)
    except TopicError as exc:
        error(str(exc))
        return False
    return True
