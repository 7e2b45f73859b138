"""The connection process runs below the window's scheduling priority.

On a machine whose cores are all busy (a flood from several brokers, or the brokers and the load on
the same laptop), the operating system shares time between the window, which must draw every frame,
and the connection process, which parses and audits in bulk and has buffers to catch up from. At equal
priority the window waited its turn: on a 2-core machine, three brokers of 40k audited requests/s
stalled its drawing for 33-47 ms at p99 (four runs). With the connection process at nice 10 it was
18-29 ms in 14 of 15 runs (37 in one), and the process took in every message as fast (see README,
"The connection process's priority"). Where a core is free, a lower priority costs nothing.
"""

from __future__ import annotations

import logging
import os
import sys

CONNECTION_NICE = 10  # added to the window's niceness (POSIX); Windows gets "below normal"
_BELOW_NORMAL_PRIORITY_CLASS = 0x4000

log = logging.getLogger(__name__)


def lower_connection_priority() -> None:
    """Lower this process's priority (called first thing in the connection process). Never raises:
    a system that refuses leaves the priority as it was."""
    try:
        if sys.platform == "win32":
            import ctypes

            kernel32 = ctypes.windll.kernel32
            kernel32.SetPriorityClass(kernel32.GetCurrentProcess(), _BELOW_NORMAL_PRIORITY_CLASS)
        else:
            os.nice(CONNECTION_NICE)
            _lower_started_threads(os.getpriority(os.PRIO_PROCESS, 0))
    except (OSError, AttributeError) as exc:
        log.warning("cannot lower the connection process's priority: %s", exc)


def _lower_started_threads(niceness: int) -> None:
    """Linux keeps a niceness per thread, and a library imported before the process's target ran (numpy's
    BLAS pool) has started threads that ``os.nice`` did not reach."""
    tasks = f"/proc/{os.getpid()}/task"
    if not os.path.isdir(tasks):
        return
    for tid in os.listdir(tasks):
        try:
            os.setpriority(os.PRIO_PROCESS, int(tid), niceness)
        except OSError:  # the thread ended meanwhile
            pass
