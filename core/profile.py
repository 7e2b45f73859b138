"""Connection profiles: where to connect and how. Passwords never live here."""

from __future__ import annotations

import secrets
import socket
from dataclasses import asdict, dataclass, field, replace
from typing import Any
from urllib.parse import urlparse

from eventscope.core.topics import validate_topic

MQTT_V311 = 4
MQTT_V5 = 5


# What an audit records unless told otherwise: the seed's requests and replies in every region.
DEFAULT_AUDIT_FILTERS = ("+/hello/request", "+/hello/response", "hello/response", "eventscope/+/reply")

def unique_client_id(prefix: str = "eventscope") -> str:
    """A client id unique per run: duplicate ids make brokers kick clients in a reconnect loop."""
    host = socket.gethostname().split(".")[0][:16] or "host"
    return f"{prefix}-{host}-{secrets.token_hex(4)}"


@dataclass(frozen=True)
class TlsSettings:
    """TLS options. ``verify`` is on unless the user turns it off; the window shows when it is off."""

    enabled: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    verify: bool = True


@dataclass(frozen=True)
class ConnectionProfile:
    """Everything needed to open one MQTT session, except the password (kept in the OS keychain)."""

    name: str = "default"
    host: str = "127.0.0.1"
    port: int = 1883
    transport: str = "tcp"  # "tcp" or "websockets"
    ws_path: str = "/mqtt"
    tls: TlsSettings = field(default_factory=TlsSettings)
    username: str = ""
    client_id: str = ""  # empty: a unique id per run
    mqtt_version: int = MQTT_V5
    keepalive: int = 30
    clean_start: bool = True
    session_expiry: int = 0  # seconds; MQTT 5 only
    read_only: bool = False
    will_topic: str = ""  # Last Will: the broker publishes it if this client drops without DISCONNECT
    will_payload: str = ""
    will_qos: int = 0
    will_retain: bool = False

    def __post_init__(self) -> None:
        if self.transport not in ("tcp", "websockets"):
            raise ValueError(f"transport must be 'tcp' or 'websockets', not {self.transport!r}")
        if self.mqtt_version not in (MQTT_V311, MQTT_V5):
            raise ValueError("MQTT version must be 3.1.1 (4) or 5")
        if not 0 < int(self.port) < 65536:
            raise ValueError(f"port {self.port} is out of range 1-65535")
        if self.will_topic:
            if self.read_only:  # the broker would publish it on the monitor's behalf
                raise ValueError("A read-only profile cannot have a Last Will: it would publish when the monitor drops")
            validate_topic(self.will_topic)
            if self.will_qos not in (0, 1, 2):
                raise ValueError(f"Last Will QoS must be 0, 1 or 2, not {self.will_qos}")

    @property
    def address(self) -> str:
        scheme = (("wss" if self.tls.enabled else "ws") if self.transport == "websockets"
                  else ("mqtts" if self.tls.enabled else "mqtt"))
        return f"{scheme}://{self.host}:{self.port}"

    def with_changes(self, **changes: Any) -> ConnectionProfile:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConnectionProfile:
        data = dict(data)
        data.pop("password", None)  # never read a password from a config file
        tls = TlsSettings(**data.pop("tls", {}) or {})
        known = {f for f in cls.__dataclass_fields__}
        return cls(tls=tls, **{k: v for k, v in data.items() if k in known})


def parse_broker_address(text: str, default_port: int = 1883) -> tuple[str, int, bool, str]:
    """Parse 'host', 'host:port' or a URL (mqtt://, mqtts://, ws://, wss://).

    Returns (host, port, tls, transport). Raises ValueError with a readable message.
    """
    text = text.strip()
    if not text:
        raise ValueError("Enter a broker address such as 127.0.0.1:1883")
    if "://" not in text:
        text = "mqtt://" + text
    url = urlparse(text)
    scheme = url.scheme.lower()
    schemes = {"mqtt": (False, "tcp", 1883), "tcp": (False, "tcp", 1883), "mqtts": (True, "tcp", 8883),
               "ssl": (True, "tcp", 8883), "ws": (False, "websockets", 80), "wss": (True, "websockets", 443)}
    if scheme not in schemes:
        raise ValueError(f"Unknown scheme {scheme!r}: use mqtt://, mqtts://, ws:// or wss://")
    tls, transport, scheme_port = schemes[scheme]
    try:
        port = url.port
    except ValueError as exc:
        raise ValueError(f"Invalid port in {text!r}") from exc
    if not url.hostname:
        raise ValueError(f"No host in {text!r}")
    return url.hostname, port or (default_port if scheme in ("mqtt", "tcp") else scheme_port), tls, transport
