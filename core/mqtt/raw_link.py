"""A hand-driven MQTT connection (bench clients, the replay sender): a plain or TLS socket after a CONNACK.

Failures raise ``LinkConnectError`` with a message a user can act on, the same wording the
sessions use (``core/mqtt/failures.py``).
"""

from __future__ import annotations

import socket
import ssl
import threading
import time

from eventscope.core.mqtt.failures import (
    describe_connack,
    describe_connect_exception,
    describe_silent_peer,
    describe_socket_error,
)
from eventscope.core.mqtt.packet_codec import (
    CONNACK,
    DISCONNECT_PACKET,
    PINGREQ_PACKET,
    Connack,
    PacketReader,
    decode_connack,
    encode_connect,
)
from eventscope.core.mqtt.tls_files import tls_files_problem
from eventscope.core.profile import ConnectionProfile


class LinkConnectError(ConnectionError):
    """A hand-driven client could not connect; the message says why."""


class Link:
    """A connected client's socket. ``send`` is safe from several threads (the sender and its ack reader)."""

    def __init__(self, sock: socket.socket, profile: ConnectionProfile, client_id: str, connack: Connack) -> None:
        self.sock = sock
        self.profile = profile
        self.client_id = client_id
        self.receive_maximum = connack.receive_maximum
        self.write_lock = threading.Lock()
        self.last_sent = time.monotonic()

    def send(self, data: bytes | bytearray | memoryview) -> None:
        with self.write_lock:
            self.sock.sendall(data)
        self.last_sent = time.monotonic()

    def ping_if_idle(self) -> None:
        """A PINGREQ when nothing was sent for half the keepalive, so the broker keeps the connection."""
        keepalive = self.profile.keepalive
        if keepalive and time.monotonic() - self.last_sent > keepalive / 2:
            self.send(PINGREQ_PACKET)

    def close(self, say_goodbye: bool = True) -> None:
        if say_goodbye:
            try:
                self.send(DISCONNECT_PACKET)
            except OSError:
                pass
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def _tls_context(profile: ConnectionProfile) -> ssl.SSLContext:
    tls = profile.tls
    context = ssl.create_default_context(cafile=tls.ca_file or None)
    if tls.cert_file:
        context.load_cert_chain(tls.cert_file, tls.key_file or None)
    if not tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def open_link(profile: ConnectionProfile, password: str | None, client_id: str, timeout: float) -> Link:
    """Connect, send CONNECT (clean start) and wait for a successful CONNACK."""
    host, port = profile.host, profile.port
    if profile.transport != "tcp":
        raise LinkConnectError("this client speaks MQTT over TCP (or TLS), not websockets")
    if profile.tls.enabled:
        problem = tls_files_problem(profile.tls)
        if problem:
            raise LinkConnectError(problem)
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise LinkConnectError(describe_connect_exception(exc, host, port, timeout=timeout)) from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        if profile.tls.enabled:
            try:
                sock = _tls_context(profile).wrap_socket(sock, server_hostname=host)
            except OSError as exc:
                raise LinkConnectError(describe_connect_exception(exc, host, port, tls=True, timeout=timeout,
                                                                   tcp_open=True)) from None
        connack = _handshake(sock, profile, password, client_id, timeout)
    except BaseException:
        sock.close()
        raise
    sock.settimeout(None)
    return Link(sock, profile, client_id, connack)


def _handshake(sock: socket.socket, profile: ConnectionProfile, password: str | None, client_id: str,
               timeout: float) -> Connack:
    host, port = profile.host, profile.port
    deadline = time.monotonic() + timeout
    reader = PacketReader()
    try:
        sock.sendall(encode_connect(client_id, profile.mqtt_version, profile.keepalive, profile.username, password))
        while True:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = sock.recv(4096)
            if not data:
                raise LinkConnectError(f"{host}:{port} closed the connection without an MQTT answer "
                                        "(is this an MQTT port? TLS vs plain? MQTT version?)")
            for packet in reader.feed(data):
                if packet.kind != CONNACK:
                    raise LinkConnectError(f"{host}:{port} answered CONNECT with packet type {packet.kind}, "
                                            "not CONNACK")
                connack = decode_connack(packet.body, profile.mqtt_version)
                if connack.reason:
                    raise LinkConnectError(f"{profile.address}: "
                                            + describe_connack(connack.reason, f"code {connack.reason}",
                                                               profile.mqtt_version))
                return connack
    except (socket.timeout, TimeoutError):
        raise LinkConnectError(describe_silent_peer(host, port, timeout)) from None
    except ValueError as exc:
        raise LinkConnectError(f"{host}:{port} sent a malformed CONNACK: {exc}") from None
    except OSError as exc:
        if isinstance(exc, LinkConnectError):
            raise
        raise LinkConnectError(describe_socket_error(exc, host, port,
                                                      client_certificate=bool(profile.tls.cert_file))) from None
