"""A read-buffered socket for paho's network loop.

paho reads each packet with several tiny ``recv`` calls (the fixed header, each length byte,
then the body), and every ``recv`` is a system call that also releases the interpreter lock.
With other threads busy, getting the lock back costs up to a switch interval each time, so a
loaded process parsed a fraction of what a lone subscriber does. This wrapper reads up to
64 KiB per system call and serves paho's small reads from memory; ``pending()`` tells paho's
loop that buffered bytes are waiting, so it does not sleep in ``select`` on them (the same
hook paho uses for TLS sockets). Everything else is the wrapped socket's.
"""

from __future__ import annotations

import struct
import sys
from typing import NamedTuple

if sys.platform != "win32":
    import fcntl
    import termios

    def _system_unread(sock) -> int:
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
else:
    def _system_unread(sock) -> int:  # Windows: not read there
        return 0

READ_SIZE = 64 * 1024
# A read this large found more waiting than a reader that keeps up lets gather (a TLS record holds 16 KiB).
FULL_READ = 16 * 1024


class SocketReading(NamedTuple):
    """Running totals of one socket's reads, and what waits unread in it now."""

    unread: int = 0  # bytes arrived and not yet read
    reads: int = 0
    full_reads: int = 0  # reads of FULL_READ or more: the reader found a backlog


class BufferedSocket:
    """Wraps a connected socket (plain or TLS); only ``recv`` and ``pending`` are its own."""

    __slots__ = ("_sock", "_buffer", "_offset", "reads", "full_reads")

    def __init__(self, sock) -> None:
        self._sock = sock
        self._buffer = b""
        self._offset = 0
        self.reads = 0  # from the socket since it opened
        self.full_reads = 0

    def recv(self, size: int) -> bytes:
        available = len(self._buffer) - self._offset
        if available <= 0:
            data = self._sock.recv(max(size, READ_SIZE))  # may raise BlockingIOError, as paho expects
            self.reads += 1
            if len(data) >= FULL_READ:
                self.full_reads += 1
            if len(data) <= size:
                return data
            self._buffer, self._offset = data, 0
            available = len(data)
        start = self._offset
        end = start + min(size, available)
        self._offset = end
        if end >= len(self._buffer):
            chunk = self._buffer[start:]
            self._buffer, self._offset = b"", 0
            return chunk
        return self._buffer[start:end]

    def unconsumed(self) -> tuple[bytes, int]:
        """The buffer and where its unread part starts, for a reader that takes many packets at once."""
        return self._buffer, self._offset

    def consume_to(self, offset: int) -> None:
        """Mark the buffer read up to ``offset`` (from ``unconsumed``)."""
        if offset >= len(self._buffer):
            self._buffer, self._offset = b"", 0
        else:
            self._offset = offset

    @property
    def buffered(self) -> int:
        """Bytes read from the socket and not yet handed out."""
        return len(self._buffer) - self._offset

    def unread(self) -> int:
        """Bytes that arrived and are not yet read from the socket (its system buffer, and TLS's decrypted ones).

        Not this wrapper's own buffer: a reader that keeps up holds up to a read's worth there all the time.
        Read from any thread: a socket closed meanwhile counts as nothing waiting.
        """
        inner = getattr(self._sock, "pending", None)
        try:
            return _system_unread(self._sock) + (inner() if inner is not None else 0)
        except (OSError, ValueError):
            return 0

    def reading(self) -> SocketReading:
        return SocketReading(self.unread(), self.reads, self.full_reads)

    def pending(self) -> int:
        own = len(self._buffer) - self._offset
        inner = getattr(self._sock, "pending", None)
        return own + (inner() if inner is not None else 0)

    def __getattr__(self, name: str):
        return getattr(self._sock, name)
