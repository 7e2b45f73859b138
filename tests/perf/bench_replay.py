"""How closely a replay keeps the recorded schedule, and the window while it replays:

    python -m tests.perf.bench_replay [--rate 1000] [--seconds 10]
    python -m tests.perf.bench_replay --window --rate 20000 --seconds 10   # Replay… in the real window

A SQLite audit with ``--rate`` requests a second over ``--seconds`` is replayed at ``--speed 1`` into a
local Mosquitto by ``eventscope audit replay`` (its own process, as a user runs it); each send's lateness
against its schedule comes from the replay's JSONL results, and an independent subscriber counts arrivals.
With ``--window``, the real window (offscreen, every view live) runs the replay from its audit feed's
Replay… dialog instead, and a 10 ms timer on the GUI thread measures its stalls meanwhile.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.conftest import MOSQUITTO, MosquittoBroker, free_port


def main(argv=None) -> int:
    import paho.mqtt.client as mqtt

    from eventscope.core.requests.rtt_stats import percentile
    from tests.helpers.replay import recorded_audit

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--window", action="store_true", help="replay from the real window's Replay… dialog")
    args = parser.parse_args(argv)
    if args.window:
        return _window(args.rate, args.seconds)
    if MOSQUITTO is None:
        print("mosquitto is not installed")
        return 1
    count = int(args.rate * args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = folder / "audit.sqlite3"
        recorded_audit(db, count, spacing=1 / args.rate)
        broker = MosquittoBroker(port=free_port(), workdir=folder, extra_config="allow_anonymous true\n")
        broker.start()
        arrived = []
        client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.on_message = lambda _c, _u, _m: arrived.append(time.monotonic())
        subscribed = threading.Event()
        client.on_subscribe = lambda *_a: subscribed.set()
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        client.subscribe("us-east/hello/request", 1)
        subscribed.wait(10)
        try:
            result = subprocess.run([sys.executable, "-m", "eventscope", "audit", "replay", "--db", str(db), "--to",
                                     f"bench=mqtt://127.0.0.1:{broker.port}", "--speed", "1", "--format", "jsonl"],
                                    capture_output=True, text=True, timeout=args.seconds * 4 + 60)
            deadline = time.monotonic() + 10
            while len(arrived) < count and time.monotonic() < deadline:
                time.sleep(0.05)  # the last messages in flight
        finally:
            client.loop_stop()
            client.disconnect()
            broker.stop()
    late = sorted(json.loads(line)["late_ms"] for line in result.stdout.splitlines())
    span = arrived[-1] - arrived[0] if len(arrived) > 1 else 0.0
    print(f"\nReplay at --speed 1 of {count:,} requests recorded at {args.rate:,}/s (one run)\n")
    recorded = f"span (recorded {args.seconds:g} s)"
    print(f"{'sent':>8} {'arrived':>8} {'late p50':>9} {'late p99':>9} {'late max':>9} {recorded:>26}")
    print(f"{len(late):>8,} {len(arrived):>8,} {percentile(late, 0.5):>8.2f}  {percentile(late, 0.99):>8.2f}  "
          f"{late[-1] if late else float('nan'):>8.2f}  {span:>24.2f} s")
    print("\nLateness in ms: how long after its scheduled time each message was handed to the session.")
    return 0 if result.returncode == 0 else 1



_COUNTER = """
import sys, threading
import paho.mqtt.client as mqtt
port, count = int(sys.argv[1]), int(sys.argv[2])
got = [0]
done = threading.Event()
def on_message(*_args):
    got[0] += 1
    if got[0] >= count:
        done.set()
client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                     client_id="bench-replay-counter")
client.on_message = on_message
client.on_subscribe = lambda *_a: open(sys.argv[4], "w").close()  # the parent waits for this file
client.connect("127.0.0.1", port)
client.subscribe("us-east/hello/request", 1)
client.loop_start()
done.wait(float(sys.argv[3]))
client.loop_stop()
print(got[0])
"""


def _count_command(port: int, count: int, ready: Path) -> list[str]:
    """A paho subscriber in its own process that prints how many replayed requests reached the broker; it
    creates ``ready`` once its SUBACK is in."""
    return [sys.executable, "-c", _COUNTER, str(port), str(count), "240", str(ready)]


def _window(rate: int, seconds: float) -> int:
    """The window's GUI stalls while its Replay… dialog sends ``rate`` msg/s for ``seconds``."""
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings, QTimer

    from eventscope.core.audit.store import default_audit_path
    from eventscope.core.profile import ConnectionProfile
    from eventscope.core.requests.rtt_stats import percentile
    from tests.helpers.replay import recorded_audit

    count = int(rate * seconds)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["XDG_DATA_HOME"] = str(folder / "data")
        os.environ["XDG_CONFIG_HOME"] = str(folder / "config")
        path = default_audit_path("workspace")
        path.parent.mkdir(parents=True, exist_ok=True)
        recorded_audit(path, count, spacing=1 / rate, start=time.time() - 3600)
        broker = MosquittoBroker(port=free_port(), workdir=folder,
                                 extra_config="allow_anonymous true\nmax_queued_messages 1000000\n")
        broker.start()
        from eventscope.gui.app import create_application

        app = create_application([])  # set up as the app sets up its process
        from eventscope.gui.context import AppContext
        from eventscope.gui.main_window import MainWindow

        context = AppContext(QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat))
        window = MainWindow(context)
        window.resize(1500, 950)
        window.show()
        context.bridge.start()

        def pump(until) -> None:
            deadline = time.monotonic() + 120
            while not until() and time.monotonic() < deadline:
                app.processEvents()
                time.sleep(0.005)

        # Arrivals are counted by a subscriber in a process of its own: a paho client in this process would take
        # the interpreter from the window at 20k msg/s and be measured as the window's stalls.
        ready = folder / "counter-subscribed"
        counter = subprocess.Popen(_count_command(broker.port, count, ready), stdout=subprocess.PIPE, text=True)
        pump(ready.exists)
        window.add_broker(ConnectionProfile(name="bench", host="127.0.0.1", port=broker.port))
        pump(lambda: context.session is not None and context.session.is_connected and window.audit_feed.reader)
        feed = window.audit_feed
        feed.kind_combo.setCurrentText("request")
        feed.apply_search()
        dialog = feed.open_replay_dialog()
        pump(lambda: dialog is not None and dialog.start_button.isEnabled())
        assert dialog is not None
        stalls: list[float] = []
        last = [time.perf_counter()]

        def probe() -> None:
            now = time.perf_counter()
            stalls.append(max(0.0, (now - last[0]) * 1000 - 10))
            last[0] = now

        timer = QTimer(interval=10, timeout=probe)
        timer.start()
        started = time.monotonic()
        run = dialog.start()
        pump(lambda: run is not None and run.future.done())
        elapsed = time.monotonic() - started
        timer.stop()
        try:
            arrived = [int(counter.communicate(timeout=120)[0].strip() or 0)]
        except subprocess.TimeoutExpired:
            counter.kill()
            arrived = [int((counter.communicate()[0] or "0").strip() or 0)]
        dialog.close()
        context.shutdown()
        broker.stop()
    ordered = sorted(stalls)
    print(f"\nReplay… in the real window: {count:,} requests recorded at {rate:,}/s, replayed at x1 (one run)\n")
    print(f"{'sent':>8} {'arrived':>8} {'took (s)':>9} {'stall p50':>10} {'stall p99':>10} {'stall max':>10}")
    print(f"{len(run.results) if run else 0:>8,} {arrived[0]:>8,} {elapsed:>9.1f} {percentile(ordered, 0.5):>9.1f}  "
          f"{percentile(ordered, 0.99):>9.1f}  {ordered[-1] if ordered else 0:>9.1f}")
    print("\nStalls in ms: how late a 10 ms timer on the GUI thread fired. Targets: p99 < 33, max < 100.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
