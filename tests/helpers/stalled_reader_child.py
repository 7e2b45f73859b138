"""A connection child process whose network threads stop reading while a file exists, as a parser that cannot
keep up would: the broker's messages pile up unread in the socket, and the window must say it falls behind."""

from __future__ import annotations

import os
import time

from eventscope.core.connections.child import ChildHost

STALL_FILE_VARIABLE = "EVENTSCOPE_TEST_STALL_FILE"  # set before the child starts; it inherits the environment
STALL_POLL = 0.05  # seconds; the stall itself is what this simulates, not a wait for something


def _stall_while_the_file_exists(record) -> None:
    path = os.environ[STALL_FILE_VARIABLE]
    while os.path.exists(path):
        time.sleep(STALL_POLL)


def stalled_reader_child_main(pipe) -> None:
    host = ChildHost(pipe)
    opened = host.do_open

    def open_with_a_stalling_reader(call_id, broker_id, *args) -> None:
        opened(call_id, broker_id, *args)
        host.connections[broker_id].session.add_tap(_stall_while_the_file_exists)

    host.do_open = open_with_a_stalling_reader  # type: ignore[method-assign]
    host.run()
