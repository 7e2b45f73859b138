"""A connection child process that answers every command 2 s late, as a child stuck on a slow DNS
look-up or a large audit database would: the window must not wait for it."""

from __future__ import annotations

import threading

from eventscope.core.connections.child import ChildHost

REPLY_DELAY = 2.0


def slow_child_main(pipe) -> None:
    host = ChildHost(pipe)
    answer = host.reply

    def late_reply(call_id: int, ok: bool, value) -> None:
        threading.Timer(REPLY_DELAY, answer, args=(call_id, ok, value)).start()

    host.reply = late_reply  # type: ignore[method-assign]
    host.run()
