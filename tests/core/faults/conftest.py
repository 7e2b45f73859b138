"""Brokers that misbehave on purpose, for the fault suite."""

from __future__ import annotations

import datetime
import ipaddress
import json
import shutil
import socket
import struct
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def acl_broker(mosquitto_factory, tmp_path):
    """Anonymous clients may read everything but write only under ``allowed/``."""
    acl = tmp_path / "acl"
    acl.write_text("topic readwrite allowed/#\ntopic read #\n")
    return mosquitto_factory(f"allow_anonymous true\nacl_file {acl}\nlog_type all\n")


DYNAMIC_SECURITY_PLUGIN = next(iter(sorted(Path("/usr/lib").glob("*/mosquitto_dynamic_security.so"))), None)


@pytest.fixture
def password_broker(mosquitto_factory, tmp_path):
    """Only alice/s3cret may connect, and she may subscribe and publish only under ``allowed/``.

    Mosquitto's dynamic security plugin, because its ACL file grants a forbidden SUBACK and only
    withholds the messages, while the plugin refuses the SUBACK with reason 135 as a user would see.
    """
    plugin = DYNAMIC_SECURITY_PLUGIN
    if plugin is None or shutil.which("mosquitto_ctrl") is None:
        pytest.skip("Mosquitto's dynamic security plugin and mosquitto_ctrl are needed for a broker that refuses a SUBACK")
    config = tmp_path / "dynamic-security.json"
    subprocess.run(["mosquitto_ctrl", "dynsec", "init", str(config), "alice", "s3cret"], check=True,
                   capture_output=True)
    security = json.loads(config.read_text())
    security["roles"] = [{"rolename": "limited", "acls": [
        {"acltype": "subscribePattern", "topic": "allowed/#", "allow": True},
        {"acltype": "publishClientSend", "topic": "allowed/#", "allow": True}]}]
    security["clients"][0]["roles"] = [{"rolename": "limited"}]
    config.write_text(json.dumps(security))
    return mosquitto_factory(f"allow_anonymous false\nplugin {plugin}\nplugin_opt_config_file {config}\n")


class Certificates:
    """A test CA and server certificates made for each TLS fault: good, expired, for another host, and a stranger's CA."""

    def __init__(self, folder) -> None:
        x509 = pytest.importorskip("cryptography.x509", reason="TLS faults need the 'cryptography' package")
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self._x509, self._hashes, self._serialization, self._ec, self._oid = x509, hashes, serialization, ec, NameOID
        self.folder = folder
        self.ca_key, self.ca_cert, self.ca_file = self._authority("Eventscope test CA", "ca.pem")
        _, _, self.stranger_ca_file = self._authority("Someone else's CA", "stranger-ca.pem")
        now = datetime.datetime.now(datetime.timezone.utc)
        day = datetime.timedelta(days=1)
        self.server = self._leaf("server", ["127.0.0.1"], now - day, now + day)
        self.expired = self._leaf("expired", ["127.0.0.1"], now - 10 * day, now - day)
        self.other_host = self._leaf("other-host", ["other.example"], now - day, now + day)
        self.client = self._leaf("client", [], now - day, now + day)

    def _name(self, common_name: str):
        return self._x509.Name([self._x509.NameAttribute(self._oid.COMMON_NAME, common_name)])

    def _write(self, name: str, key, cert) -> tuple[str, str]:
        serialization = self._serialization
        cert_file, key_file = self.folder / f"{name}.pem", self.folder / f"{name}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return str(cert_file), str(key_file)

    def _authority(self, common_name: str, file_name: str):
        x509 = self._x509
        key = self._ec.generate_private_key(self._ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(self._name(common_name)).issuer_name(self._name(common_name))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, self._hashes.SHA256()))
        cert_file, _ = self._write(file_name.removesuffix(".pem"), key, cert)
        return key, cert, cert_file

    def _leaf(self, name: str, hosts: list[str], not_before, not_after) -> tuple[str, str]:
        x509 = self._x509
        key = self._ec.generate_private_key(self._ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(self._name(name)).issuer_name(self.ca_cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(not_before).not_valid_after(not_after))
        if hosts:
            names = [x509.IPAddress(ipaddress.ip_address(h)) if h[0].isdigit() else x509.DNSName(h) for h in hosts]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return self._write(name, key, builder.sign(self.ca_key, self._hashes.SHA256()))


@pytest.fixture
def certificates(tmp_path) -> Certificates:
    folder = tmp_path / "tls"
    folder.mkdir()
    return Certificates(folder)


@pytest.fixture
def tls_broker_factory(mosquitto_factory, certificates):
    """A Mosquitto whose only listener is TLS, with the named server certificate."""

    def start(server: str = "server", require_client_certificate: bool = False):
        cert, key = getattr(certificates, server)
        extra = "require_certificate true\n" if require_client_certificate else ""
        return mosquitto_factory(f"allow_anonymous true\ncafile {certificates.ca_file}\ncertfile {cert}\n"
                                 f"keyfile {key}\n{extra}")

    return start


def serve_tcp(handle) -> Iterator[int]:
    """A loopback TCP server that gives each accepted connection to ``handle``; yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            handle(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    listener.close()


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections and never says a word: a non-MQTT service, or a dead one."""
    accepted: list[socket.socket] = []
    yield from serve_tcp(accepted.append)
    for conn in accepted:
        conn.close()


def _reset_after_connect(conn: socket.socket) -> None:
    conn.settimeout(2)
    try:
        conn.recv(1024)
    except OSError:
        pass
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST, not FIN
    conn.close()


@pytest.fixture
def closing_server():
    """A TCP port that accepts, reads the CONNECT, and resets the connection (a server dying mid-handshake)."""
    yield from serve_tcp(_reset_after_connect)


def _answer_http(conn: socket.socket) -> None:
    with conn:
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


@pytest.fixture
def http_server():
    """A TCP port where an HTTP server answers: a wrong port that talks, but not MQTT."""
    yield from serve_tcp(_answer_http)


@pytest.fixture
def black_hole():
    """A port whose SYNs go unanswered: a listener that never accepts, its backlog already full."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(filler)
    yield port
    for filler in fillers:
        filler.close()
    listener.close()
