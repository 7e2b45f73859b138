"""An MQTT broker that Eventscope starts, owns and stops: a child process on 127.0.0.1.

Two backends:

* ``mosquitto``: the system Mosquitto (MQTT 5 and 3.1.1 on one listener). It runs under a
  tiny Python watchdog that terminates it when our end of its stdin pipe closes, so the
  broker also dies when Eventscope is killed. ``prctl(PR_SET_PDEATHSIG)`` was not used
  because it fires when the *thread* that started the child exits (e.g. a worker thread),
  needs ``preexec_fn`` (unsafe with threads) and is Linux-only.
* ``iotcore``: the pip-installed rumqttd wrapper (``iotcore.Broker``). rumqttd serves
  MQTT 5 and 3.1.1 on separate listeners; a client speaking the wrong version gets no
  CONNACK and hangs, so callers must use :meth:`EmbeddedBroker.port_for`.

Both are configured for a long demo on a laptop: loopback only, anonymous, no
persistence, bounded queues, config written to a temporary directory removed on stop.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path

LOOPBACK_HOST = "127.0.0.1"
BACKENDS = ("auto", "mosquitto", "iotcore")
MQTT_V5 = 5
MQTT_V311 = 4

_SYSTEM_MOSQUITTO = Path("/usr/sbin/mosquitto")  # Debian/Ubuntu install it outside a user's PATH
_READY_POLL_SECONDS = 0.02
_STOP_TIMEOUT_SECONDS = 5.0

# Mosquitto limits that keep a long demo's memory bounded. QoS 0 messages for a slow
# subscriber count against max_queued_* too (Mosquitto >= 2.0), so a stalled GUI drops
# messages instead of growing the broker.
_MOSQUITTO_MAX_QUEUED_MESSAGES = 10_000
_MOSQUITTO_MAX_QUEUED_BYTES = 16 * 1024 * 1024
_MOSQUITTO_MEMORY_LIMIT_BYTES = 256 * 1024 * 1024
_MAX_PACKET_BYTES = 1024 * 1024

# rumqttd keeps an in-memory commit log per subscription filter of up to
# max_segment_size * max_segment_count bytes (payload + topic; the heap cost is ~3-4x
# that) and keeps it after the last subscriber leaves. Its defaults (100 MiB x 10) allow
# 1 GiB per filter. 256 KiB x 4 still lets a subscriber lag by ~9k small messages,
# about what Mosquitto's per-client queue below allows (see /work/notes/broker.md).
_RUMQTTD_SEGMENT_BYTES = 256 * 1024
_RUMQTTD_SEGMENT_COUNT = 4
_RUMQTTD_MAX_PAYLOAD_BYTES = 256 * 1024
_RUMQTTD_MAX_CONNECTIONS = 1000

# Runs Mosquitto and stops it when the owner's end of our stdin closes (owner stopped it or
# died), then removes the config dir. Prints the broker's PID so the owner can signal it.
_WATCHDOG_SOURCE = r"""
import shutil, signal, subprocess, sys, threading
workdir, command = sys.argv[1], sys.argv[2:]
broker = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=sys.stderr)
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the owner's business; we follow the pipe
signal.signal(signal.SIGTERM, lambda *_: broker.terminate())
sys.stdout.write(f"{broker.pid}\n")
sys.stdout.flush()
owner_gone = threading.Event()

def stop_broker_when_owner_goes_away():
    sys.stdin.buffer.read()
    owner_gone.set()
    if broker.poll() is None:
        broker.terminate()
        try:
            broker.wait(5)
        except subprocess.TimeoutExpired:
            broker.kill()

threading.Thread(target=stop_broker_when_owner_goes_away, daemon=True).start()
code = broker.wait()
# A killed owner cannot remove the config dir, so we do; after an early exit the owner reads its log.
if owner_gone.wait(0.1):
    shutil.rmtree(workdir, ignore_errors=True)
sys.exit(code)
"""


class BrokerStartError(RuntimeError):
    """The embedded broker could not be started; the message is meant for the user."""


def find_mosquitto() -> str | None:
    """Path of the system Mosquitto executable, or None if it is not installed."""
    found = shutil.which("mosquitto")
    if found:
        return found
    if _SYSTEM_MOSQUITTO.is_file() and os.access(_SYSTEM_MOSQUITTO, os.X_OK):
        return str(_SYSTEM_MOSQUITTO)
    return None


def iotcore_available() -> bool:
    """True if the pip package ``iotcore`` can be imported."""
    try:
        import iotcore  # noqa: F401
    except ImportError:
        return False
    return True


def free_loopback_port(exclude: tuple[int, ...] = ()) -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (not in ``exclude``)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((LOOPBACK_HOST, 0))
            port = probe.getsockname()[1]
        if port not in exclude:
            return port


def loopback_port_in_use(port: int) -> bool:
    """True if another socket is listening on ``127.0.0.1:port`` (or on all interfaces)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if os.name != "nt":
            # Like the brokers do, so lingering TIME_WAIT connections don't count as "in use".
            # (On Windows SO_REUSEADDR would let us bind over a live listener.)
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK_HOST, port))
        except OSError:
            return True
    return False


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK_HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


def _resolve_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown broker backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return "mosquitto" if find_mosquitto() else "iotcore"
    return backend


# Brokers still running at interpreter exit are stopped; weak so tests don't keep them alive.
_running_brokers: weakref.WeakSet[EmbeddedBroker] = weakref.WeakSet()


@atexit.register
def _stop_running_brokers() -> None:
    for broker in list(_running_brokers):
        broker.stop()


class EmbeddedBroker:
    """A broker Eventscope owns: a child process bound to 127.0.0.1, stopped on stop()/exit.

    ::

        with EmbeddedBroker() as broker:          # a free port, Mosquitto if installed
            client.connect(broker.host, broker.port_for(5))

    ``port`` is the MQTT 5 listener; 3.1.1 clients must connect to ``port_v311``
    (the same port for Mosquitto, a second listener for iotcore).
    """

    host: str = LOOPBACK_HOST

    def __init__(self, port: int | None = None, backend: str = "auto") -> None:
        self.backend = _resolve_backend(backend)
        self.port = port if port is not None else free_loopback_port()
        if self.backend == "iotcore":
            self.port_v311 = free_loopback_port(exclude=(self.port,))
        else:
            self.port_v311 = self.port
        self._workdir: Path | None = None
        self._watchdog: subprocess.Popen | None = None  # mosquitto: our direct child
        self._broker_pid: int | None = None
        self._iotcore_broker = None  # iotcore.Broker while running

    # -- public API -------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """PID of the broker process while it runs (Mosquitto itself, or iotcore's child)."""
        return self._broker_pid if self.is_running else None

    @property
    def is_running(self) -> bool:
        if self._watchdog is not None:
            return self._watchdog.poll() is None
        if self._iotcore_broker is not None:
            return self._iotcore_broker.is_running
        return False

    def port_for(self, mqtt_version: int) -> int:
        """Port a client speaking ``mqtt_version`` (5, or 4 for 3.1.1 / 3 for 3.1) must use."""
        if mqtt_version == MQTT_V5:
            return self.port
        if mqtt_version in (MQTT_V311, 3):
            return self.port_v311
        raise ValueError(f"unsupported MQTT protocol version {mqtt_version!r}; expected 5 or 4 (3.1.1)")

    def start(self, timeout: float = 10.0) -> EmbeddedBroker:
        """Start the broker and block until it accepts connections.

        Raises :class:`BrokerStartError` if a port is in use, the backend is not
        installed, or the broker exits or stays silent during startup.
        """
        if self.is_running:
            return self
        self.stop()  # clear leftovers of a broker that died on its own
        for port in dict.fromkeys((self.port, self.port_v311)):
            if loopback_port_in_use(port):
                raise BrokerStartError(self._port_in_use_message(port))
        self._workdir = Path(tempfile.mkdtemp(prefix=f"eventscope-{self.backend}-"))
        try:
            if self.backend == "mosquitto":
                self._start_mosquitto(timeout)
            else:
                self._start_iotcore(timeout)
        except BaseException:
            self.stop()
            raise
        _running_brokers.add(self)
        return self

    def stop(self) -> None:
        """Stop the broker (terminate, then kill by PID) and release its ports. Idempotent."""
        _running_brokers.discard(self)
        if self._watchdog is not None:
            self._stop_mosquitto()
        if self._iotcore_broker is not None:
            broker, self._iotcore_broker = self._iotcore_broker, None
            broker.stop(timeout=_STOP_TIMEOUT_SECONDS)  # terminate, then kill after the timeout
        self._broker_pid = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"running pid={self.pid}" if self.is_running else "stopped"
        ports = str(self.port) if self.port == self.port_v311 else f"v5={self.port} v3.1.1={self.port_v311}"
        return f"<EmbeddedBroker {self.backend} {self.host} {ports} {state}>"

    # -- mosquitto --------------------------------------------------------------------

    def _mosquitto_config(self) -> str:
        return "\n".join(
            [
                f"listener {self.port} {LOOPBACK_HOST}",
                "allow_anonymous true",  # loopback only, so anonymous is the expected demo setup
                "persistence false",
                f"max_queued_messages {_MOSQUITTO_MAX_QUEUED_MESSAGES}",
                f"max_queued_bytes {_MOSQUITTO_MAX_QUEUED_BYTES}",
                f"memory_limit {_MOSQUITTO_MEMORY_LIMIT_BYTES}",
                f"max_packet_size {_MAX_PACKET_BYTES}",
                "retain_available true",
                "set_tcp_nodelay true",
                # Errors and warnings only: the log lives for the whole demo.
                "log_dest stderr",
                "log_type error",
                "log_type warning",
                "connection_messages false",
                "",
            ]
        )

    def _start_mosquitto(self, timeout: float) -> None:
        executable = find_mosquitto()
        if executable is None:
            raise BrokerStartError(
                "Mosquitto is not installed (looked on PATH and in /usr/sbin). "
                "Install it (e.g. 'apt install mosquitto') or use the 'iotcore' broker backend."
            )
        assert self._workdir is not None
        config_path = self._workdir / "mosquitto.conf"
        config_path.write_text(self._mosquitto_config())
        log_path = self._workdir / "mosquitto.log"
        with open(log_path, "wb") as log_file:
            self._watchdog = subprocess.Popen(
                [sys.executable, "-I", "-c", _WATCHDOG_SOURCE, str(self._workdir), executable, "-c", str(config_path)],
                stdin=subprocess.PIPE,  # closing it (or our death) makes the watchdog stop Mosquitto
                stdout=subprocess.PIPE,
                stderr=log_file,
                cwd=self._workdir,
            )
        assert self._watchdog.stdout is not None
        pid_line = self._watchdog.stdout.readline().strip()
        self._watchdog.stdout.close()
        if not pid_line.isdigit():
            raise BrokerStartError(f"could not run Mosquitto ({executable}): {self._log_tail(log_path)}")
        self._broker_pid = int(pid_line)

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._watchdog.poll() is not None:
                raise BrokerStartError(self._mosquitto_exit_message(log_path))
            if _accepts_connections(self.port):
                return
            time.sleep(_READY_POLL_SECONDS)  # polling with a deadline
        raise BrokerStartError(f"Mosquitto did not accept connections on {LOOPBACK_HOST}:{self.port} within {timeout}s")

    def _mosquitto_exit_message(self, log_path: Path) -> str:
        log_tail = self._log_tail(log_path)
        if "address already in use" in log_tail.lower():
            return self._port_in_use_message(self.port)
        assert self._watchdog is not None  # called only after the watchdog was started and exited
        return f"Mosquitto exited during startup (code {self._watchdog.returncode}): {log_tail}"

    def _stop_mosquitto(self) -> None:
        watchdog, self._watchdog = self._watchdog, None
        assert watchdog is not None  # the caller checked that it runs
        broker_pid = self._broker_pid
        if watchdog.stdin is not None:
            watchdog.stdin.close()  # first, so the watchdog knows the exit is wanted
        # The watchdog reaps Mosquitto only just before it exits itself, so while the
        # watchdog runs, broker_pid cannot have been reused by another process.
        if broker_pid is not None and watchdog.poll() is None:
            _signal_pid(broker_pid, signal.SIGTERM)
        try:
            watchdog.wait(_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            if broker_pid is not None:
                _signal_pid(broker_pid, getattr(signal, "SIGKILL", signal.SIGTERM))
            watchdog.kill()
            watchdog.wait(_STOP_TIMEOUT_SECONDS)

    @staticmethod
    def _log_tail(log_path: Path, max_chars: int = 500) -> str:
        try:
            text = log_path.read_text(errors="replace").strip()
        except OSError:
            return "(no log)"
        return text[-max_chars:] or "(no output)"

    # -- iotcore (rumqttd) ------------------------------------------------------------

    def _rumqttd_config(self) -> str:
        def listener(section: str, name: str, port: int, extra: str = "") -> str:
            return (
                f"[{section}]\n"
                f'name = "{name}"\n'
                f'listen = "{LOOPBACK_HOST}:{port}"\n'
                "next_connection_delay_ms = 1\n"
                f"[{section}.connections]\n"
                "connection_timeout_ms = 60000\n"
                f"max_payload_size = {_RUMQTTD_MAX_PAYLOAD_BYTES}\n"
                "max_inflight_count = 100\n"
                f"{extra}"
            )

        # No [console] or [prometheus] sections: those would open more ports.
        return (
            "id = 0\n\n"
            "[router]\n"
            "id = 0\n"
            f"max_connections = {_RUMQTTD_MAX_CONNECTIONS}\n"
            "max_outgoing_packet_count = 200\n"
            f"max_segment_size = {_RUMQTTD_SEGMENT_BYTES}\n"
            f"max_segment_count = {_RUMQTTD_SEGMENT_COUNT}\n\n"
            + listener("v4.1", "v4-1", self.port_v311, "dynamic_filters = true\n")
            + "\n"
            + listener("v5.1", "v5-1", self.port)
        )

    def _start_iotcore(self, timeout: float) -> None:
        try:
            import iotcore
        except ImportError as exc:
            raise BrokerStartError(
                f"The iotcore broker is not installed ({exc}). Install it with 'pip install iotcore' "
                "or install Mosquitto."
            ) from exc
        assert self._workdir is not None
        config_path = self._workdir / "rumqttd.toml"
        config_path.write_text(self._rumqttd_config())
        # iotcore.Broker starts a Python child running rumqttd that exits when its stdin pipe
        # closes, so it dies with us too. Its default listen address (0.0.0.0) is unused:
        # the config file's listeners win.
        broker = iotcore.Broker(listen=LOOPBACK_HOST, port=self.port_v311, config_path=str(config_path))
        self._iotcore_broker = broker
        try:
            broker.start(timeout=timeout)
        except OSError as exc:
            busy = [p for p in (self.port, self.port_v311) if loopback_port_in_use(p)]
            if busy:
                raise BrokerStartError(self._port_in_use_message(busy[0])) from exc
            raise BrokerStartError(f"iotcore broker could not start: {exc}") from exc
        except RuntimeError as exc:
            raise BrokerStartError(f"iotcore broker could not start: {exc}") from exc
        process = getattr(broker, "_process", None)  # iotcore exposes no public PID
        self._broker_pid = process.pid if process is not None else None

    def _port_in_use_message(self, port: int) -> str:
        return (
            f"Cannot start the embedded {self.backend} broker: port {port} on {LOOPBACK_HOST} is already "
            "in use (is another broker running?). Choose another port or stop the other program."
        )


def _signal_pid(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError, OSError):
        pass  # already gone
