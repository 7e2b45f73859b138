"""Fault suite, storage class: damaged, truncated and misplaced databases, permissions, a full disk,
and a second recorder through a symlink. Export only ever reads; record never acks into a bad file."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import time

import pytest

from eventscope.core.audit.store import AuditStore, AuditStoreFull
from eventscope.core.records import MessageRecord
from tests.conftest import publish_raw, wait_until
from tests.helpers.cli import EVENTSCOPE, run

ROWS = 3000
PAGE = 4096


def filled_db(path, rows: int = ROWS):
    store = AuditStore(path)
    now = time.time()
    store.write_batch([MessageRecord("us-east/hello/request", f"payload {i:05d} ".encode() * 20, received=now + i / 1e3)
                       for i in range(rows)])
    store.close()
    return path


def overwrite_middle_pages(path) -> None:
    pages = path.stat().st_size // PAGE
    with open(path, "r+b") as fh:
        fh.seek(pages // 2 * PAGE)
        fh.write(os.urandom(4 * PAGE))
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA quick_check").fetchone()[0] != "ok"  # the fault is really there
    except sqlite3.DatabaseError:
        pass
    finally:
        conn.close()


def truncate_to_half(path) -> None:
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2 // PAGE * PAGE)


def snapshot(folder) -> dict[str, str]:
    """Every file in the folder with its content hash: an export must leave this unchanged."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir" for p in folder.iterdir()}


def exported_count(stderr: str) -> int:
    (line,) = [line for line in stderr.splitlines() if line.startswith("exported ")]
    return int(line.split()[1])


DAMAGE = {
    # (how, export format, what stderr says, whether the undamaged rows still come out)
    "pages overwritten": (overwrite_middle_pages, "jsonl", "is damaged", True),
    "truncated": (truncate_to_half, "csv", "malformed", False),  # SQLite cannot read even its schema
}


@pytest.mark.parametrize("damage, fmt, says, some_rows", DAMAGE.values(), ids=DAMAGE.keys())
def test_export_of_a_damaged_database_reads_what_it_can_and_changes_nothing(tmp_path, damage, fmt, says, some_rows):
    db = filled_db(tmp_path / "audit.sqlite3")
    damage(db)
    before = snapshot(tmp_path)
    result = run("audit", "export", "--db", str(db), "--format", fmt)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and says in result.stderr and str(db) in result.stderr
    if some_rows:
        assert 0 < exported_count(result.stderr) < ROWS
        assert len(result.stdout.splitlines()) == exported_count(result.stderr)
    assert snapshot(tmp_path) == before


NOT_A_DATABASE = {
    "a directory": lambda path: path.mkdir(),
    "a text file": lambda path: path.write_text("not a database\n" * 300),
    "an empty file": lambda path: path.touch(),
}


@pytest.mark.parametrize("make", NOT_A_DATABASE.values(), ids=NOT_A_DATABASE.keys())
def test_export_of_something_that_is_no_database_fails_and_changes_nothing(tmp_path, make):
    db = tmp_path / "audit.sqlite3"
    make(db)
    before = snapshot(tmp_path)
    result = run("audit", "export", "--db", str(db))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "exported" not in result.stderr
    assert str(db) in result.stderr
    assert snapshot(tmp_path) == before


def test_record_into_a_directory_fails_with_the_reason(tmp_path):
    db = tmp_path / "audit.sqlite3"
    db.mkdir()
    result = run("audit", "record", "--port", "1", "--db", str(db))
    assert result.returncode == 1
    assert "is a directory" in result.stderr and "Traceback" not in result.stderr
    assert db.is_dir() and not list(tmp_path.glob("*.corrupt-*"))


def _without_root_bypass(argv: list[str]) -> list[str]:
    """Root ignores file modes; without CAP_DAC_OVERRIDE it is held to them, as any user is."""
    if os.geteuid() != 0:
        return argv
    if shutil.which("capsh") is None:
        pytest.skip("running as root without capsh: cannot drop the capability that ignores file modes")
    return ["capsh", "--drop=cap_dac_override,cap_dac_read_search", "--", "-c", 'exec "$@"', "--", *argv]


@pytest.mark.parametrize("action", ["export", "record"])
def test_an_unreadable_audit_folder_is_a_clear_message(tmp_path, action):
    folder = tmp_path / "audit"
    folder.mkdir()
    filled_db(folder / "audit.sqlite3", rows=10)
    folder.chmod(0)
    try:
        argv = [*EVENTSCOPE, "audit", action, "--db", str(folder / "audit.sqlite3")]
        if action == "record":
            argv += ["--port", "1"]
        result = subprocess.run(_without_root_bypass(argv), capture_output=True, text=True, timeout=30)
    finally:
        folder.chmod(0o755)
    assert result.returncode == 1
    assert "Permission denied" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["audit.sqlite3"]


def stored_count(db) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    finally:
        conn.close()


def start_recorder(broker, db, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "eventscope", "audit", "record", "--port", str(broker.port), "--filter", "rec/#",
         "--db", str(db), *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen) -> tuple[str, str]:
    proc.terminate()
    return proc.communicate(timeout=15)


def test_record_moves_a_damaged_database_aside_and_stores_into_a_whole_one(mosquitto, tmp_path):
    db = filled_db(tmp_path / "audit.sqlite3")
    overwrite_middle_pages(db)
    recorder = start_recorder(mosquitto, db)
    try:
        assert "audit recorder ready" in recorder.stdout.readline()
        publish_raw(mosquitto.port, [(f"rec/{i}", b"x") for i in range(50)])
        wait_until(lambda: stored_count(db) == 50, 10, message="50 rows in the fresh database")
    finally:
        _, stderr = stop(recorder)
    assert "could not be read" in stderr and "moved to" in stderr
    assert len(list(tmp_path.glob("audit.sqlite3.corrupt-*"))) == 1
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 50
    conn.close()


@pytest.mark.parametrize("second_path", ["symlink", "host alias"])
def test_a_second_recorder_of_the_same_database_and_broker_is_refused(mosquitto, tmp_path, second_path):
    db = tmp_path / "real.sqlite3"
    first = start_recorder(mosquitto, db)
    try:
        assert "audit recorder ready" in first.stdout.readline()
        if second_path == "symlink":
            link = tmp_path / "link.sqlite3"
            link.symlink_to(db)
            second = subprocess.run([*EVENTSCOPE, "audit", "record", "--port", str(mosquitto.port), "--db", str(link)],
                                    capture_output=True, text=True, timeout=30)
        else:
            second = subprocess.run([*EVENTSCOPE, "audit", "record", "--host", "localhost", "--port",
                                     str(mosquitto.port), "--db", str(db)], capture_output=True, text=True, timeout=30)
        assert second.returncode == 1
        assert "already recording real.sqlite3" in second.stderr and "Traceback" not in second.stderr
    finally:
        stop(first)
    assert "taken over" not in mosquitto.log_path.read_text(errors="replace")


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB tmpfs; needs root (mount), else the test is skipped with the reason."""
    if os.geteuid() != 0:
        pytest.skip("a full disk needs a small tmpfs, and mounting one needs root")
    folder = tmp_path / "tiny"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_writes_nothing_half_and_loses_nothing_once_space_returns(tiny_disk):
    store = AuditStore(tiny_disk / "audit.sqlite3")
    now = time.time()
    batches = [[MessageRecord(f"disk/{b}/{i}", os.urandom(2000), received=now) for i in range(100)] for b in range(20)]
    written, refused = 0, None
    for batch in batches:
        try:
            written += store.write_batch(batch).inserted
        except AuditStoreFull as exc:
            refused = batch
            assert "full" in str(exc)
            break
    assert refused is not None, "1 MiB should not hold 4 MB of payloads"
    assert store.count() == written  # the refused batch left nothing behind
    subprocess.run(["mount", "-o", "remount,size=16m", str(tiny_disk)], check=True)
    assert store.write_batch(refused).inserted == len(refused)
    assert store.count() == written + len(refused)
    store.close()
