"""``eventscope broker``: run the embedded broker headless until interrupted."""

from __future__ import annotations

import argparse
import signal
import threading

from eventscope.core.cli.common import EXIT_FAILURE, EXIT_OK, error, port_number
from eventscope.core.demo.embedded_broker import BrokerStartError, EmbeddedBroker


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("broker", help="run the embedded MQTT broker",
                                   description="Run the embedded broker on 127.0.0.1 until interrupted.")
    parser.add_argument("-p", "--port", type=port_number, default=None, help="port (default: a free one)")
    parser.add_argument("--backend", choices=("auto", "mosquitto", "iotcore"), default="auto",
                        help="auto (default): a system mosquitto if installed, else the pip-installed iotcore")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        broker = EmbeddedBroker(port=args.port, backend=args.backend).start()
    except BrokerStartError as exc:
        error(str(exc))
        return EXIT_FAILURE
    print(f"Embedded broker: {broker.url} ({broker.backend})", flush=True)
    try:
        while not stop.wait(0.5):
            if not broker.is_running:
                error("the broker process exited")
                return EXIT_FAILURE
    except KeyboardInterrupt:
        pass
    finally:
        broker.stop()
    return EXIT_OK
