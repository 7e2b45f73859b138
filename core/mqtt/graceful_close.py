"""Closing a socket after DISCONNECT without losing what was sent just before it.

Closing a TCP socket that still has unread bytes makes the kernel send a reset instead of a
normal close, and a reset makes the peer's kernel discard what it received but the broker had
not read yet: typically the last acknowledgements before DISCONNECT. The broker then delivers
those messages again to the next session, which stores them twice. Half-closing first, then
reading to the broker's own close, delivers every byte we sent.
"""

from __future__ import annotations

import select
import socket
import ssl
import time

DRAIN_CHUNK = 64 * 1024


def close_after_peer(sock, timeout: float) -> None:
    """Half-close ``sock`` and read (and drop) what arrives until the peer closes or ``timeout`` passes.

    The caller closes the socket afterwards. Sockets without ``shutdown`` (websockets) are left alone.
    """
    try:
        sock.shutdown(socket.SHUT_WR)
    except (AttributeError, OSError, ValueError):
        return
    deadline = time.monotonic() + timeout
    while True:
        pending = getattr(sock, "pending", None)
        if not (pending is not None and pending() > 0):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                readable, _, _ = select.select([sock], [], [], left)
            except (OSError, ValueError):
                return
            if not readable:
                return
        try:
            if not sock.recv(DRAIN_CHUNK):
                return  # the broker closed its side: nothing unread is left to reset the connection
        except (BlockingIOError, ssl.SSLWantReadError):
            continue
        except OSError:
            return
