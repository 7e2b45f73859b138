"""Brokers that misbehave on purpose, for the fault suite."""

from __future__ import annotations

import subprocess

import pytest


@pytest.fixture
def acl_broker(mosquitto_factory, tmp_path):
    """Anonymous clients may read everything but write only under ``allowed/``."""
    acl = tmp_path / "acl"
    acl.write_text("topic readwrite allowed/#\ntopic read #\n")
    return mosquitto_factory(f"allow_anonymous true\nacl_file {acl}\nlog_type all\n")


@pytest.fixture
def password_broker(mosquitto_factory, tmp_path):
    """Only alice/s3cret may connect; she may subscribe only under ``allowed/``."""
    passwd = tmp_path / "passwd"
    passwd.touch()
    passwd.chmod(0o700)
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), "alice", "s3cret"], check=True)
    acl = tmp_path / "acl"
    acl.write_text("user alice\ntopic readwrite allowed/#\n")
    return mosquitto_factory(f"allow_anonymous false\npassword_file {passwd}\nacl_file {acl}\n")
