"""``eventscope bench``: load a broker and measure it (pub, sub, pubsub, request), or a whole mesh (mesh)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import replace

from eventscope.core.bench import mesh_report, runner
from eventscope.core.bench.header import HEADER_SIZE
from eventscope.core.bench.mesh import DEFAULT_CONCURRENCY as MESH_CONCURRENCY
from eventscope.core.bench.mesh import DEFAULT_RATE as MESH_RATE
from eventscope.core.bench.mesh import MeshBroker, MeshPhase, MeshPlan, MeshRefused, MeshRun, MeshSnapshot
from eventscope.core.bench.mesh_topics import DEFAULT_TOPIC_PREFIX, MeshTopicError, check_template
from eventscope.core.bench.receiver import SubscribeRefused
from eventscope.core.bench.report import as_json, as_table, latencies
from eventscope.core.bench.requester import RequestPlan
from eventscope.core.bench.runner import BenchResult, Endpoint, PublishSpec, SubscribeSpec
from eventscope.core.bench.topic_template import TemplateError, client_topics, subscription_filter
from eventscope.core.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    add_connection_args,
    add_topic_arg,
    brokers_from_args,
    connect_session,
    error,
    positive_duration,
    protocol_version,
    request_topics_valid,
    single_broker_from_args,
)
from eventscope.core.mqtt.raw_link import LinkConnectError
from eventscope.core.mqtt.session import SessionError
from eventscope.core.profile import ConnectionProfile, parse_broker_address
from eventscope.core.requests.tracker import DEFAULT_TIMEOUT, RequestRefused, RequestTracker
from eventscope.core.topics import TopicError, validate_filter

DEFAULT_TEMPLATE = "eventscope/bench/{i}"
DEFAULT_FILTER = "eventscope/bench/#"
DEFAULT_REQUEST_TOPIC = "bench/hello/request"  # answered by `eventscope reply` as it starts (+/hello/request)
DEFAULT_SECONDS = 10.0
DEFAULT_SIZE = 64
MAX_CLIENTS = 0xFFFF  # the client's index is 4 hex digits of the bench header

CO_HELP = ("Latencies go into an HDR histogram (microsecond resolution, reported in milliseconds). At a fixed "
           "--rate they are corrected for coordinated omission: a sender that is held up by the system it "
           "measures sends nothing meanwhile, so a stall would show as one slow message instead of many. Each "
           "latency L longer than the sender's interval i (10 ms publishing slots, or the time between one "
           "worker's requests) is recorded with the samples the held-up messages would have had: L-i, L-2i, ... "
           "(HdrHistogram's record_corrected_value). Counts (sent, received, lost) never include those samples.")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench", help="load a broker and measure throughput, loss and latency",
        description="Benchmark a broker: publishers at a fixed rate or flat out (pub), subscribers that count "
                    "and time what arrives (sub), both at once (pubsub), or correlated request/reply (request). "
                    f"Payloads start with a {HEADER_SIZE}-byte bench header (publisher, sequence number, send "
                    "time), so loss, duplicates, reordering and latency are exact. " + CO_HELP)
    modes = parser.add_subparsers(dest="bench_command", metavar="MODE", required=True)

    pub = modes.add_parser("pub", help="publish at a rate (or flat out) and report the rate achieved",
                           description="Publish from N clients at a total rate, or flat out, with pre-encoded "
                                       "packets. The table says whether the tool or the broker set the limit. "
                                       + CO_HELP, conflict_handler="resolve")
    _add_common(pub)
    _add_publish_args(pub)
    pub.set_defaults(run=run_pub)

    sub = modes.add_parser("sub", help="subscribe and report throughput, loss and latency",
                           description="Subscribe N clients to a filter and count what arrives: receive rate over "
                                       "time and, for payloads with the bench header, loss (sequence gaps), "
                                       "duplicates, reordering and end-to-end latency. Runs until --count, "
                                       "--seconds or Ctrl+C. " + CO_HELP, conflict_handler="resolve")
    _add_common(sub)
    add_topic_arg(sub, f"filter to subscribe to (default {DEFAULT_FILTER})", subscribes=True,
                  defaults=(DEFAULT_FILTER,))
    sub.add_argument("-c", "--clients", type=_clients, default=1, help="subscribers, each on its own connection")
    sub.add_argument("-q", "--qos", type=int, choices=(0, 1, 2), default=0, help="subscription QoS (default 0)")
    sub.set_defaults(run=run_sub)

    pubsub = modes.add_parser("pubsub", help="publish and subscribe at once: throughput, loss, order, latency",
                              description="Publish and subscribe at once, on one broker or two (--pub-url, "
                                          "--sub-url: a bridge or mesh between them). Reports throughput, loss "
                                          "(sequence gaps and messages never seen), duplicates, reordering and "
                                          "latency percentiles. " + CO_HELP, conflict_handler="resolve")
    _add_common(pubsub)
    _add_publish_args(pubsub)
    pubsub.add_argument("--subscribers", type=_clients, default=1, help="subscribers, each on its own connection")
    pubsub.add_argument("--pub-url", metavar="URL", default=None,
                        help="the publishers' broker, e.g. mqtt://host:1883 (default: the connection options)")
    pubsub.add_argument("--sub-url", metavar="URL", default=None,
                        help="the subscribers' broker (default: the connection options)")
    pubsub.set_defaults(run=run_pubsub)

    request = modes.add_parser("request", help="correlated request/reply at a rate or concurrency: RTT percentiles",
                               description="Send requests through the request tracker (MQTT 5 correlation data, or "
                                           "the fixed reply topic with 3.1.1) and time each reply. Needs a replier, "
                                           "e.g. `eventscope reply`. " + CO_HELP, conflict_handler="resolve")
    _add_common(request)
    add_topic_arg(request, f"request topic (default {DEFAULT_REQUEST_TOPIC})", subscribes=False,
                  defaults=(DEFAULT_REQUEST_TOPIC,))
    request.add_argument("-e", "--reply-topic", default=None,
                         help="reply topic (default: eventscope/<client-id>/reply; hello/response with -V 3.1.1)")
    request.add_argument("--rate", type=_rate, default=0.0,
                         help="requests per second over all workers (default 0: each worker sends its next "
                              "request as soon as the reply is in)")
    request.add_argument("--concurrency", type=_clients, default=1, help="requests in flight at once (workers)")
    request.add_argument("-W", "--timeout", type=positive_duration, default=DEFAULT_TIMEOUT, metavar="DURATION",
                         help=f"how long to wait for each reply (default {DEFAULT_TIMEOUT:g}s)")
    request.add_argument("-s", "--size", type=_count_or_zero, default=DEFAULT_SIZE, help="request payload bytes")
    request.add_argument("-q", "--qos", type=int, choices=(0, 1, 2), default=0, help="QoS of the requests")
    request.set_defaults(run=run_request)

    mesh = modes.add_parser(
        "mesh", help="request/reply between every pair of brokers of a mesh: an RTT matrix and each bridge's hop",
        description="Measure a mesh of brokers (--broker NAME=URL or --profile NAME, once per broker). A replier "
                    "starts on every broker for a private namespace of this run (--topic-prefix), then every "
                    "ordered pair (sent on A, answered on B) runs a paced request stream through the request "
                    "tracker, all pairs at once. Prints the matrix of RTT p50 / p99 and loss per pair, and the "
                    "one-way hop latency between brokers, from the same requests' arrival on each broker. The "
                    "repliers unsubscribe at the end (and on Ctrl+C); nothing is retained. " + CO_HELP,
        conflict_handler="resolve")
    add_connection_args(mesh)
    mesh.add_argument("-V", "--protocol", "--mqtt", dest="mqtt", type=_protocol, default="5", metavar="VERSION",
                      help="MQTT version: 5 (default) or 3.1.1 (also 311, mqttv5, mqttv311)")
    load = mesh.add_argument_group("the request streams")
    load.add_argument("--rate", type=_rate, default=MESH_RATE,
                      help=f"requests per second of each pair (default {MESH_RATE:g}; 0: each worker sends its next "
                           "request as soon as the reply is in)")
    load.add_argument("--seconds", type=positive_duration, default=None, metavar="DURATION",
                      help=f"how long the pairs run, all at once (default {DEFAULT_SECONDS:g}s unless --count)")
    load.add_argument("--count", type=_count, default=None,
                      help="requests per pair, then stop; with --seconds, whichever comes first")
    load.add_argument("--concurrency", type=_clients, default=MESH_CONCURRENCY,
                      help=f"requests in flight per pair (default {MESH_CONCURRENCY}); each worker sends every "
                           "concurrency/rate seconds, and an RTT longer than that is corrected for coordinated "
                           "omission: raise it for long RTTs")
    load.add_argument("-W", "--timeout", type=positive_duration, default=DEFAULT_TIMEOUT, metavar="DURATION",
                      help=f"how long to wait for each reply; later ones are lost (default {DEFAULT_TIMEOUT:g}s)")
    load.add_argument("-s", "--size", type=_count, default=DEFAULT_SIZE,
                      help=f"request payload bytes (default {DEFAULT_SIZE}, at least {HEADER_SIZE}: the bench header)")
    load.add_argument("-q", "--qos", type=int, choices=(0, 1, 2), default=0, help="QoS of requests and replies")
    load.add_argument("--topic-prefix", default=DEFAULT_TOPIC_PREFIX, metavar="TEMPLATE",
                      help="each broker's namespace for this run: {region} is the broker's name, {run} a random "
                           f"id of the run (default {DEFAULT_TOPIC_PREFIX}: under REGION/hello/, which bridges "
                           "that carry +/hello/# route). Requests go to <namespace of B>/request/<A>, replies to "
                           "<namespace of A>/reply/<B>; the mesh's bridges must carry both")
    output = mesh.add_argument_group("report")
    output.add_argument("--format", choices=("table", "json"), default="table",
                        help='table (default) or JSON: {"pairs": [{"from", "to", "sent", "lost", "p50_ms", "p99_ms", '
                             '...}], "hops": [{"from", "to", "p50_ms", "p99_ms", "samples", ...}]}')
    output.add_argument("--save", metavar="FILE", default=None, help="also write the results as JSON to FILE")
    output.add_argument("--compare", metavar="FILE", default=None,
                        help="compare with results saved earlier (--save): each pair's change in p50 and p99")
    output.add_argument("--progress", action="store_true",
                        help="a progress line each second on stderr even when it is not a terminal")
    mesh.set_defaults(run=run_mesh)


def _add_common(parser: argparse.ArgumentParser) -> None:
    add_connection_args(parser)
    # Replaces the shared -V so that 3.1.1 is accepted as written.
    parser.add_argument("-V", "--protocol", "--mqtt", dest="mqtt", type=_protocol, default="5", metavar="VERSION",
                        help="MQTT version: 5 (default) or 3.1.1 (also 311, mqttv5, mqttv311)")
    output = parser.add_argument_group("run and report")
    output.add_argument("--count", type=_count, default=None,
                        help="messages (requests) in all, then stop; with --seconds, whichever comes first")
    output.add_argument("--seconds", type=positive_duration, default=None, metavar="DURATION",
                        help=f"how long to run, e.g. 30 or 2m (default {DEFAULT_SECONDS:g}s unless --count; "
                             "bench sub: until Ctrl+C)")
    output.add_argument("--format", choices=("table", "json"), default="table",
                        help="table (default) or one JSON document on stdout")
    output.add_argument("--out", metavar="FILE", default=None,
                        help="write the latency histogram as HdrHistogram's percentile distribution (.hgrm "
                             "text, values in ms) for HDR plotting tools")
    output.add_argument("--progress", action="store_true",
                        help="a progress line each second on stderr even when it is not a terminal")


def _add_publish_args(parser: argparse.ArgumentParser) -> None:
    add_topic_arg(parser, f"topic template: {{i}} is the client's index, {{region}} one of --regions, round robin "
                          f"(default {DEFAULT_TEMPLATE})", subscribes=False, defaults=(DEFAULT_TEMPLATE,))
    parser.add_argument("-c", "--clients", type=_clients, default=1, help="publishers, each on its own connection")
    parser.add_argument("--rate", type=_rate, default=0.0,
                        help="messages per second over all publishers (default 0: as fast as possible)")
    parser.add_argument("-q", "--qos", type=int, choices=(0, 1, 2), default=0, help="QoS (default 0)")
    parser.add_argument("-s", "--size", type=_count, default=DEFAULT_SIZE,
                        help=f"payload bytes, bench header included (default {DEFAULT_SIZE}, at least {HEADER_SIZE})")
    parser.add_argument("--regions", type=_regions, default=(), metavar="A,B,C",
                        help="the values of {region} in the topic template")
    parser.add_argument("-r", "--retain", action="store_true", help="publish retained messages")


# ----- argument types ----------------------------------------------------------------------

def _protocol(text: str) -> str:
    if text.strip().lower() in ("3.1.1", "v3.1.1", "mqttv3.1.1"):
        return "3"
    return protocol_version(text)


def _whole(text: str, minimum: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{what} must be at least {minimum}, not {value}")
    return value


def _count(text: str) -> int:
    return _whole(text, 1, "this")


def _count_or_zero(text: str) -> int:
    return _whole(text, 0, "this")


def _clients(text: str) -> int:
    value = _whole(text, 1, "the number of clients")
    if value > MAX_CLIENTS:
        raise argparse.ArgumentTypeError(f"at most {MAX_CLIENTS} clients")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate (messages per second)") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"the rate must be 0 (as fast as possible) or more, not {text}")
    return value


def _regions(text: str) -> tuple[str, ...]:
    regions = tuple(part.strip() for part in text.split(","))
    if not all(regions):
        raise argparse.ArgumentTypeError(f"--regions takes names separated by commas, e.g. us,eu (got {text!r})")
    return regions


# ----- the modes ----------------------------------------------------------------------------

def _endpoint(args: argparse.Namespace, url: str | None = None) -> Endpoint:
    profile, password = single_broker_from_args(args)
    if url:
        profile = _at_url(profile, url)
    return Endpoint(profile, password, args.connect_timeout)


def _at_url(profile: ConnectionProfile, url: str) -> ConnectionProfile:
    try:
        host, port, tls, transport = parse_broker_address(url)
    except ValueError as exc:
        raise UsageError(f"{url}: {exc}") from None
    return profile.with_changes(name=f"{host}:{port}", host=host, port=port, transport=transport,
                                tls=replace(profile.tls, enabled=profile.tls.enabled or tls))


def _refuses(profile: ConnectionProfile, mode: str) -> bool:
    """bench pub, pubsub and request publish: never from a read-only (monitor) connection."""
    if not profile.read_only:
        return False
    error(f"{profile.name} is read-only (monitor mode): bench {mode} publishes, so it does not run "
          "(bench sub only listens)")
    return True


def _seconds(args: argparse.Namespace) -> float | None:
    if args.seconds is None and args.count is None:
        return DEFAULT_SECONDS
    return args.seconds


def _publish_spec(args: argparse.Namespace, endpoint: Endpoint) -> PublishSpec:
    if args.size < HEADER_SIZE:
        raise UsageError(f"--size {args.size}: a bench payload has at least {HEADER_SIZE} bytes (the bench header)")
    topics = client_topics(args.topic, args.clients, args.regions)
    return PublishSpec(endpoint, topics, args.size, args.qos, args.retain, args.rate, args.count, _seconds(args))


def run_pub(args: argparse.Namespace) -> int:
    endpoint = _endpoint(args)
    if _refuses(endpoint.profile, "pub"):
        return EXIT_USAGE
    if args.out and not args.qos:
        error("--out needs latencies: bench pub measures them (publish to acknowledgement) only at QoS 1 or 2; "
              "bench pubsub measures them end to end")
        return EXIT_USAGE
    try:
        spec = _publish_spec(args, endpoint)
    except TemplateError as exc:
        error(str(exc))
        return EXIT_USAGE
    return _execute(args, lambda stop, on_tick, on_ready: runner.run_pub(spec, stop, on_tick, on_ready))


def run_sub(args: argparse.Namespace) -> int:
    try:
        validate_filter(args.topic)
    except TopicError as exc:
        error(str(exc))
        return EXIT_USAGE
    endpoint = _endpoint(args)
    spec = SubscribeSpec(endpoint, args.topic, args.clients, args.qos, args.count, args.seconds)
    return _execute(args, lambda stop, on_tick, on_ready: runner.run_sub(spec, stop, on_tick, on_ready))


def run_pubsub(args: argparse.Namespace) -> int:
    publishing = _endpoint(args, args.pub_url)
    if _refuses(publishing.profile, "pubsub"):
        return EXIT_USAGE
    subscribing = _endpoint(args, args.sub_url)
    try:
        publish = _publish_spec(args, publishing)
        topic_filter = subscription_filter(args.topic)
    except TemplateError as exc:
        error(str(exc))
        return EXIT_USAGE
    subscribe = SubscribeSpec(subscribing, topic_filter, args.subscribers, args.qos)
    return _execute(args, lambda stop, on_tick, on_ready: runner.run_pubsub(publish, subscribe, stop, on_tick,
                                                                            on_ready))


def run_request(args: argparse.Namespace) -> int:
    if not request_topics_valid(args):
        return EXIT_USAGE
    profile, password = single_broker_from_args(args)
    if _refuses(profile, "request"):
        return EXIT_USAGE
    plan = RequestPlan(args.topic, b"x" * args.size, args.rate, args.concurrency, args.count, _seconds(args),
                       args.timeout, args.qos, args.reply_topic)
    try:
        session = connect_session(args, broker=(profile, password), publishes=True, buffer_messages=False)
    except (ConnectionError, SessionError) as exc:
        error(str(exc))
        return EXIT_FAILURE
    tracker = RequestTracker(session)
    try:
        return _execute(args, lambda stop, on_tick, on_ready: runner.run_requests(tracker, plan, stop, on_tick))
    except RequestRefused as exc:
        error(str(exc))
        return EXIT_USAGE
    finally:
        tracker.close()
        session.stop()


def run_mesh(args: argparse.Namespace) -> int:
    chosen = brokers_from_args(args)
    for profile, _ in chosen:
        if _refuses(profile, "mesh"):
            return EXIT_USAGE
    try:
        check_template(args.topic_prefix)
        earlier = mesh_report.load_rtts(args.compare) if args.compare else None
    except (MeshTopicError, mesh_report.MeshResultsError) as exc:
        error(str(exc))
        return EXIT_USAGE
    seconds = args.seconds if args.seconds is not None or args.count is not None else DEFAULT_SECONDS
    plan = MeshPlan(rate=args.rate, seconds=seconds, count=args.count, concurrency=args.concurrency, size=args.size,
                    qos=args.qos, timeout=args.timeout, topic_prefix=args.topic_prefix,
                    connect_timeout=args.connect_timeout)
    try:
        mesh = MeshRun([MeshBroker(profile.name, profile, password) for profile, password in chosen], plan)
    except MeshRefused as exc:
        error(str(exc))
        return EXIT_USAGE
    snapshot = _watch_mesh(args, mesh.start())
    if snapshot.error:
        error(snapshot.error)
        return EXIT_FAILURE
    changes = mesh_report.compare(snapshot, earlier) if earlier is not None else None
    if args.format == "json":
        print(mesh_report.as_json(snapshot, changes), flush=True)
    else:
        print(mesh_report.as_table(snapshot, plan, changes, args.compare or ""), flush=True)
    if args.save:
        try:
            mesh_report.save(snapshot, args.save)
        except OSError as exc:
            error(f"cannot write {args.save}: {exc.strerror or exc}")
            return EXIT_FAILURE
    return EXIT_OK


def _watch_mesh(args: argparse.Namespace, mesh: MeshRun) -> MeshSnapshot:
    """Wait for the run, with a progress line each second; Ctrl+C or SIGTERM stop it (and its repliers)."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: mesh.stop())
    terminal = sys.stderr.isatty()
    show_progress = terminal or args.progress
    announced = False
    while not mesh.wait(1.0):
        snapshot = mesh.snapshot()
        if snapshot.phase is MeshPhase.RUNNING and not announced:
            announced = True
            print(f"bench: repliers on {len(snapshot.brokers)} broker(s), {len(snapshot.pairs)} pairs running",
                  file=sys.stderr, flush=True)
        if show_progress and snapshot.pairs:
            sent = sum(p.sent for p in snapshot.pairs)
            lost = sum(p.lost for p in snapshot.pairs)
            line = f"[{snapshot.elapsed:5.1f} s] {snapshot.phase.value}: {sent:,} answered or lost, {lost:,} lost"
            print(f"\r{line}   " if terminal else line, end="" if terminal else "\n", file=sys.stderr, flush=True)
    if terminal and show_progress:
        print(file=sys.stderr)
    return mesh.snapshot()


# ----- running and reporting ------------------------------------------------------------------

Run = Callable[[threading.Event, Callable[[int, dict[str, int]], None], Callable[[str], None]], BenchResult]


def _execute(args: argparse.Namespace, run: Run) -> int:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    terminal = sys.stderr.isatty()
    show_progress = terminal or args.progress

    def on_tick(second: int, counts: dict[str, int]) -> None:
        if not show_progress:
            return
        line = f"[{second:4d} s] " + "  ".join(f"{name} {count:,}/s" for name, count in counts.items())
        print(f"\r{line}   " if terminal else line, end="" if terminal else "\n", file=sys.stderr, flush=True)

    def on_ready(message: str) -> None:
        print(f"bench: {message}", file=sys.stderr, flush=True)

    try:
        result = run(stop, on_tick, on_ready)
    except (LinkConnectError, SubscribeRefused) as exc:
        error(str(exc))
        return EXIT_FAILURE
    except OSError as exc:  # a connection that failed in a way the clients do not describe themselves
        error(f"the bench stopped: {exc.strerror or exc}")
        return EXIT_FAILURE
    finally:
        if terminal and show_progress:
            print(file=sys.stderr)
    print(as_json(result) if args.format == "json" else as_table(result), flush=True)
    if args.out and not _write_histogram(result, args.out):
        return EXIT_FAILURE
    return EXIT_FAILURE if result.errors else EXIT_OK


def _write_histogram(result: BenchResult, path: str) -> bool:
    recorder = latencies(result)
    if not recorder.count:
        error(f"no latencies were measured, so {path} was not written")
        return True
    try:
        with open(path, "wb") as out:
            recorder.write_percentile_distribution(out)
    except OSError as exc:
        error(f"cannot write {path}: {exc.strerror or exc}")
        return False
    return True
