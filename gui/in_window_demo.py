"""File → Try the demo: the embedded demo started from inside the window (what ``--demo`` starts).

The broker, the simulated traffic and the replier start on a worker thread; the window connects once
they are up and takes the short tour. The demo stops when the window closes.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Protocol, cast

from PySide6.QtCore import QObject

from eventscope.core.profile import ConnectionProfile
from eventscope.gui.futures import FutureWatcher

if TYPE_CHECKING:
    from eventscope.core.demo.environment import DemoEnvironment

DEMO_BROKER_NAME = "demo"


class DemoHost(Protocol):
    """What the demo needs of its window."""

    status_bar: Any
    context: Any

    def connect_to(self, profile: ConnectionProfile, password: str | None = None) -> Any: ...

    def update_demo_action(self) -> None: ...


class InWindowDemo(QObject):
    """Starts and stops one embedded demo for ``window``."""

    def __init__(self, window: DemoHost) -> None:
        super().__init__(cast(QObject, window))
        self.window = window
        self.environment: DemoEnvironment | None = None
        self.starting = False
        self.started_outside = False  # ``--demo`` started one with the window: one demo is enough
        self._closed = False  # the window closed: a demo still starting stops as soon as it is up
        self._lock = threading.Lock()  # ``_closed`` and ``environment`` between the starting thread and the window
        self._watcher = FutureWatcher(self)

    @property
    def available(self) -> bool:
        return self.environment is None and not self.starting and not self.started_outside

    def start(self) -> Future | None:
        """Start it off the GUI thread; None if one is running or starting already."""
        if not self.available:
            return None
        from eventscope.core.demo.environment import DemoEnvironment  # the embedded broker: loaded when asked for

        environment = DemoEnvironment()
        started: Future = Future()

        def run() -> None:
            try:
                environment.start()
            except Exception as exc:  # noqa: BLE001 (shown in the window)
                started.set_exception(exc)
                return
            with self._lock:
                closed = self._closed
                if not closed:
                    self.environment = environment  # from here on, stop() ends it
            if closed:  # the window went while it started: nobody will use it
                environment.stop()
            started.set_result(environment)

        self.starting = True
        self.window.status_bar.showMessage("Starting the demo: an embedded broker, regional traffic and a replier…")
        self.window.update_demo_action()
        threading.Thread(target=run, name="demo-start", daemon=True).start()
        self._watcher.watch(started, self._on_started)
        return started

    def _on_started(self, started: Future) -> None:
        self.starting = False
        if self._closed:
            return
        error = started.exception()
        if error is not None:
            self.window.status_bar.showMessage(f"Cannot start the demo: {error}", 15000)
            self.window.update_demo_action()
            return
        environment: DemoEnvironment = started.result()
        broker = environment.broker
        self.window.status_bar.showMessage(f"Demo running on its own broker at {broker.host}:{broker.port}", 8000)
        self.window.connect_to(ConnectionProfile(name=DEMO_BROKER_NAME, host=broker.host, port=broker.port,
                                                 read_only=self.window.context.read_only))
        self.window.update_demo_action()
        from eventscope.gui.demo_tour import start_demo_tour  # it imports the window's module

        start_demo_tour(cast(Any, self.window))

    def stop(self) -> None:
        """With the window: the traffic, the replier and the broker end (the window's connections are closed).
        A demo still starting stops on its own thread once it is up."""
        with self._lock:
            self._closed = True
            environment, self.environment = self.environment, None
        if environment is not None:
            environment.stop()
