"""Turn network, TLS and CONNACK failures into messages a user can act on."""

from __future__ import annotations

import socket
import ssl

# CONNACK return codes of MQTT 3.1.1 (section 3.2.2.3).
_V311_CONNACK = {
    1: "The broker does not accept this MQTT protocol version",
    2: "The broker rejected the client id",
    3: "The MQTT service is unavailable on the broker",
    4: "Bad user name or password",
    5: "Not authorised to connect",
}

# MQTT 5 reason codes after which retrying cannot help until the user changes something.
FATAL_CONNACK_CODES = frozenset({1, 2, 4, 5, 0x84, 0x85, 0x86, 0x87, 0x8A, 0x8C, 0x90, 0x95, 0x9A})


# What OpenSSL says when the other side answered the ClientHello with something that is not TLS.
_NOT_TLS_REASONS = ("WRONG_VERSION_NUMBER", "UNEXPECTED_EOF_WHILE_READING", "RECORD_LAYER_FAILURE", "HTTP_REQUEST",
                    "PACKET_LENGTH_TOO_LONG")


def describe_connect_exception(exc: BaseException, host: str, port: int, tls: bool = False, timeout: float = 5.0,
                               tcp_open: bool = False) -> str:
    """A one-line, user-facing reason for a failed TCP/TLS connect (``tls``: a handshake was attempted;
    ``tcp_open``: the TCP connection was made, so a timeout is the TLS handshake's)."""
    where = f"{host}:{port}"
    if tls and (isinstance(exc, (ConnectionResetError, ssl.SSLEOFError))
                or (isinstance(exc, ssl.SSLError) and getattr(exc, "reason", None) in _NOT_TLS_REASONS)):
        return (f"TLS handshake with {where} failed: the server does not speak TLS there "
                "(a plain MQTT port? use mqtt:// or leave out --tls)")
    if isinstance(exc, socket.gaierror):
        return f"Unknown host {host!r}: the name does not resolve ({exc.strerror or exc})"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate of {where} could not be verified: {exc.verify_message or exc.reason}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake with {where} failed: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return f"Connection refused by {where}: no MQTT broker is listening there"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        if tcp_open:
            return f"connected to {where}, but the TLS handshake got no answer within {round(timeout, 1):g} s"
        return (f"could not open a TCP connection to {where} within {round(timeout, 1):g} s: the host is down, "
                "unreachable or firewalled")
    if isinstance(exc, FileNotFoundError):
        return f"File not found: {exc.filename}"
    if isinstance(exc, OSError):
        return f"Cannot connect to {where}: {exc.strerror or exc}"
    return f"Cannot connect to {where}: {exc}"


def describe_connack(reason_code: int, reason_text: str, mqtt_version: int) -> str:
    """A user-facing reason for a refused CONNACK."""
    if mqtt_version == 4 and reason_code in _V311_CONNACK:
        return _V311_CONNACK[reason_code]
    if reason_code == 0x86:
        return "Bad user name or password"
    if reason_code == 0x87:
        return "Not authorised to connect"
    return f"The broker refused the connection: {reason_text} (reason code {reason_code})"


def describe_socket_error(exc: OSError, host: str, port: int, client_certificate: bool = True) -> str:
    """Why a connection ended before the CONNACK, from the error its read or write raised."""
    where = f"{host}:{port}"
    reason = getattr(exc, "reason", None) or ""
    if isinstance(exc, ssl.SSLError):
        if "CERTIFICATE_REQUIRED" in reason:
            return f"The broker at {where} requires a client certificate (give --cert and --key)"
        if isinstance(exc, ssl.SSLEOFError) and not client_certificate:
            # TLS 1.3 finishes the client's side of the handshake before the broker checks for a
            # certificate, and OpenSSL brokers then just close: this is what a missing one looks like.
            return (f"The broker at {where} closed the TLS connection right after the handshake: it probably "
                    "requires a client certificate (give --cert and --key)")
        return f"TLS error from {where}: {reason or exc}"
    if isinstance(exc, ConnectionResetError):
        return f"{where} reset the connection without an MQTT answer (is this an MQTT port? TLS vs plain?)"
    return f"Lost the connection to {where} before an MQTT answer: {exc.strerror or exc}"


def describe_silent_peer(host: str, port: int, seconds: float) -> str:
    """A TCP (or TLS) peer that accepted but never sent a CONNACK: say what to check."""
    return f"no MQTT answer from {host}:{port} within {round(seconds, 1):g} s (is this an MQTT port? TLS vs plain?)"
