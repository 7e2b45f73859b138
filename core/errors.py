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


def describe_connect_exception(exc: BaseException, host: str, port: int) -> str:
    """A one-line, user-facing reason for a failed TCP/TLS connect."""
    where = f"{host}:{port}"
    if isinstance(exc, socket.gaierror):
        return f"Unknown host {host!r}: the name does not resolve ({exc.strerror or exc})"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate of {where} could not be verified: {exc.verify_message or exc.reason}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake with {where} failed: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return f"Connection refused by {where}: no MQTT broker is listening there"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"Timed out connecting to {where}"
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
