"""Connection child processes that stop until the test releases them, and the window must say what falls behind:

- ``stalled_reader_child_main``: the network threads stop reading, as a parser that cannot keep up would,
  and the broker's messages pile up unread in the socket;
- ``held_writer_child_main``: the audit's first write waits, as on a slow disk or database, and the
  audited messages wait to be written.

The release is a named pipe: what stalls blocks opening it until the test opens its other end.
"""

from __future__ import annotations

import errno
import os
import threading

from eventscope.core.audit.store import AuditStore
from eventscope.core.connections.child import ChildHost

STALL_PIPE_VARIABLE = "EVENTSCOPE_TEST_STALL_PIPE"  # set before the child starts; it inherits the environment
_released = threading.Event()


def _stall_until_released(record=None) -> None:
    if _released.is_set():
        return
    with open(os.environ[STALL_PIPE_VARIABLE], "rb") as pipe:  # blocks until the test opens the writing end
        pipe.read()
    _released.set()


def release(pipe_path) -> bool:
    """Let the stalled readers go; False when none was waiting on ``pipe_path``."""
    try:
        descriptor = os.open(pipe_path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # no reader has opened it: nothing stalls
            return False
        raise
    os.close(descriptor)
    return True


def stalled_reader_child_main(pipe) -> None:
    host = ChildHost(pipe)
    opened = host.do_open

    def open_with_a_stalling_reader(call_id, broker_id, *args) -> None:
        opened(call_id, broker_id, *args)
        host.connections[broker_id].session.add_tap(_stall_until_released)

    host.do_open = open_with_a_stalling_reader  # type: ignore[method-assign]
    host.run()


def held_writer_child_main(pipe) -> None:
    write = AuditStore.write_batch

    def held_write(self, *args, **kwargs):
        _stall_until_released()
        return write(self, *args, **kwargs)

    AuditStore.write_batch = held_write  # type: ignore[method-assign]
    ChildHost(pipe).run()
