"""One recorder per audit database: a second one is refused with a reason, never a kick loop."""

from __future__ import annotations

import subprocess
import sys

import pytest

from eventscope.core.audit.lock import RecorderBusyError, RecorderLock
from eventscope.core.audit.recorder import AuditRecorder
from eventscope.core.audit.store import AuditStore
from eventscope.core.profile import ConnectionProfile


def test_second_lock_on_the_same_database_is_refused_until_released(tmp_path):
    db = tmp_path / "audit.sqlite"
    first, second = RecorderLock(db), RecorderLock(db)
    first.acquire()
    with pytest.raises(RecorderBusyError, match="already recording audit.sqlite"):
        second.acquire()
    first.release()
    second.acquire()
    second.release()


def test_lock_is_held_across_processes(tmp_path):
    db = tmp_path / "audit.sqlite"
    lock = RecorderLock(db)
    lock.acquire()
    try:
        code = ("import sys; from eventscope.core.audit.lock import RecorderLock, RecorderBusyError\n"
                f"try:\n    RecorderLock({str(db)!r}).acquire()\nexcept RecorderBusyError:\n    sys.exit(3)\n")
        assert subprocess.run([sys.executable, "-c", code]).returncode == 3
    finally:
        lock.release()


def test_two_recorders_on_one_database_do_not_both_connect(mosquitto, tmp_path):
    store = AuditStore(tmp_path / "audit.sqlite")
    profile = ConnectionProfile(name="p", port=mosquitto.port)
    first = AuditRecorder(store, profile)
    first.start()
    try:
        assert first.wait_ready(10)
        second = AuditRecorder(store, profile)
        with pytest.raises(RecorderBusyError):
            second.start()
        assert first.session.is_connected
    finally:
        first.stop()
        store.close()


def test_a_symlink_to_the_database_is_the_same_database(tmp_path):
    db = tmp_path / "real.sqlite3"
    db.touch()
    link = tmp_path / "link.sqlite3"
    link.symlink_to(db)
    first, second = RecorderLock(db, "127.0.0.1:1883"), RecorderLock(link, "127.0.0.1:1883")
    first.acquire()
    try:
        with pytest.raises(RecorderBusyError, match="real.sqlite3"):
            second.acquire()
        other_broker = RecorderLock(link, "127.0.0.1:1884")  # another broker may record the same database
        other_broker.acquire()
        other_broker.release()
    finally:
        first.release()


def test_a_slow_resolver_never_holds_the_recorder_lock_up(monkeypatch):
    import socket
    import threading

    from eventscope.core.audit import recorder

    released = threading.Event()

    def stuck(*_args, **_kwargs):  # a resolver that does not answer
        released.wait(30)
        raise OSError("no answer")

    monkeypatch.setattr(socket, "getaddrinfo", stuck)
    try:
        assert recorder.broker_key("broker.example", 1883, timeout=0.2) == "broker.example:1883"  # keyed on the name
    finally:
        released.set()
    monkeypatch.undo()
    assert recorder.broker_key("localhost", 1883) in ("127.0.0.1:1883", "::1:1883")  # a quick answer: the address
