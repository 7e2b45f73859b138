"""A mesh run in a child process of its own, for the window.

A ``MeshRun`` has a few dozen threads of its own (each broker's clients, each pair's request
stream). Inside the window's process they kept the GUI thread waiting for the interpreter lock: at
50 req/s per pair over three brokers a 10 ms timer fired 100-160 ms late, again and again, and the
window's own work added to the run's RTTs. Here the run lives in a spawned child; the parent gets
its snapshot over a pipe a few times a second, and ``stop`` is one message. The parent's side has
the run's surface (``start``, ``stop``, ``wait``, ``done``, ``snapshot``, ``brokers``, ``pairs``,
``topics``).

If the parent goes (even kill -9), the child sees the pipe close and stops the run, which removes
its repliers.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Sequence
from dataclasses import replace
from multiprocessing.connection import Connection

from eventscope.core.bench.mesh import MeshBroker, MeshPhase, MeshPlan, MeshRun, MeshSnapshot
from eventscope.core.child_stop import ask_to_stop, stop_when_told

SEND_SECONDS = 0.2  # how often the child sends its snapshot
JOIN_SECONDS = 5.0


def mesh_child_main(pipe: Connection, brokers: Sequence[MeshBroker], plan: MeshPlan, run_number: int) -> None:
    """The child: run the mesh, send snapshots until it ends (the last one final), stop when told or orphaned."""
    run = MeshRun(brokers, plan, run_number).start()

    stop_when_told(pipe, run.stop, "mesh-stop-listener")
    try:
        while not run.wait(SEND_SECONDS):
            pipe.send(run.snapshot())
        pipe.send(run.snapshot())
    except (BrokenPipeError, EOFError, OSError):  # nobody reads any more: the run still cleans up
        run.stop()
        run.wait()


class MeshRunProcess:
    """A ``MeshRun`` in a child process (see the module's docstring). Raises ``MeshRefused`` before starting one."""

    def __init__(self, brokers: Sequence[MeshBroker], plan: MeshPlan) -> None:
        named = MeshRun(brokers, plan)  # checks the request and names the run; it runs in the child
        self.brokers, self.plan, self.run_number = named.brokers, plan, named.run_number
        self.run_id, self.topics, self.pairs = named.run_id, named.topics, named.pairs
        self._snapshot: MeshSnapshot = named.snapshot()
        self._done = threading.Event()
        self._send_lock = threading.Lock()
        self._pipe: Connection | None = None
        self._process = None

    def start(self) -> MeshRunProcess:
        ctx = multiprocessing.get_context("spawn")  # never fork a process with Qt's and paho's threads
        self._pipe, child_end = ctx.Pipe(duplex=True)
        self._process = ctx.Process(target=mesh_child_main, args=(child_end, self.brokers, self.plan,
                                                                  self.run_number),
                                    name=f"eventscope-mesh-{self.run_id}", daemon=True)
        self._process.start()
        child_end.close()
        threading.Thread(target=self._receive, name=f"mesh-{self.run_id}-receiver", daemon=True).start()
        return self

    def stop(self) -> None:
        """End the run now: returns at once; the child cleans up and sends its final snapshot."""
        if not self._done.is_set():
            ask_to_stop(self._pipe, self._send_lock)

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set() or self._snapshot.done

    def snapshot(self) -> MeshSnapshot:
        return self._snapshot

    def _receive(self) -> None:
        assert self._pipe is not None and self._process is not None
        try:
            while not self._snapshot.done:
                self._snapshot = self._pipe.recv()
        except (EOFError, OSError):
            pass
        if not self._snapshot.done:
            self._snapshot = replace(self._snapshot, phase=MeshPhase.FAILED,
                                     error="The mesh run's process ended unexpectedly")
        self._done.set()  # the final snapshot is in: the run is over, whatever the child still does to exit
        self._process.join(JOIN_SECONDS)
        self._pipe.close()
