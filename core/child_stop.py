"""How a worker child process (a mesh run, a replay sender) is told to stop, and hears it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from multiprocessing.connection import Connection


def stop_when_told(pipe: Connection, stop: Callable[[], None], name: str) -> None:
    """Call ``stop`` from a daemon thread once the parent sends "stop" or goes away (even kill -9: the pipe
    closes). The thread is the pipe's only reader from then on."""

    def listen() -> None:
        try:
            while pipe.recv() != "stop":
                pass
        except (EOFError, OSError):  # the parent is gone
            pass
        stop()

    threading.Thread(target=listen, name=name, daemon=True).start()


def ask_to_stop(pipe: Connection | None, lock: threading.Lock) -> None:
    """The parent's side: send "stop" (``lock`` guards the pipe's writers); a child already gone is no error."""
    if pipe is None:
        return
    try:
        with lock:
            pipe.send("stop")
    except (OSError, ValueError):  # the child is gone already
        pass
