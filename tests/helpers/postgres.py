"""A real PostgreSQL server for tests: Debian's PostgreSQL 15, ``initdb`` and ``pg_ctl`` in a temporary
folder, on a free loopback port, with password authentication; stopped by its PID.

``initdb`` refuses to run as root, so as root (CI) the server runs as the ``postgres`` system user.
"""

from __future__ import annotations

import glob
import os
import select
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SUPERUSER = "postgres"
SUPERUSER_PASSWORD = "test-superuser-secret"


def find_pg_bin() -> Path | None:
    """The newest server installed by Debian's packages (or on PATH)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@dataclass
class PostgresServer:
    """One server: ``url(database)`` gives a superuser URL; ``admin(sql)`` runs SQL as the superuser."""

    bin_dir: Path
    port: int
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="eventscope-pg-")))
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.data = self.folder / "data"
        self.log_path = self.folder / "server.log"

    @property
    def pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def url(self, database: str = "postgres", user: str = SUPERUSER, password: str | None = SUPERUSER_PASSWORD,
            **params: str) -> str:
        auth = f"{user}:{password}@" if password is not None else f"{user}@"
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"postgresql://{auth}127.0.0.1:{self.port}/{database}" + (f"?{query}" if query else "")

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        password_file = self.folder / "pw"
        password_file.write_text(SUPERUSER_PASSWORD + "\n")
        if os.geteuid() == 0:
            shutil.chown(password_file, "postgres", "postgres")
        subprocess.run(_as_server_user([str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                                        "--auth=scram-sha-256", f"--pwfile={password_file}", "-E", "UTF8",
                                        "--locale=C.UTF-8"]),
                       check=True, capture_output=True, text=True)
        password_file.unlink()
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                       f"unix_socket_directories = '{self.folder}'\n"
                       "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"  # a test server: speed
                       "log_statement = 'mod'\nlog_line_prefix = '%m [%p] %u@%d '\n"  # every write, and by whom
                       "max_connections = 200\n")

    def start(self, timeout: float = 30.0) -> None:
        subprocess.run(_as_server_user([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_path),
                                        "-w", "-t", str(int(timeout)), "start"]),
                       check=True, capture_output=True, text=True)

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown by PID (SIGINT), waiting for the server to be gone."""
        pid = self.pid
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            return
        try:  # the server is not our child: a pidfd turns readable when it exits
            exited = os.pidfd_open(pid)
        except ProcessLookupError:
            return
        try:
            gone, _, _ = select.select([exited], [], [], timeout)
        finally:
            os.close(exited)
        if not gone:
            os.kill(pid, signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def admin(self, sql: str, database: str = "postgres") -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            cursor = conn.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def recorder_process(port: int, url: str, name: str = "") -> subprocess.Popen:
    """``eventscope audit record`` beside one broker (named ``name``), writing the team database at ``url``;
    the password goes through the environment, never argv. Returns once the recorder is ready."""
    from eventscope.core.audit.postgres import split_password
    from tests.helpers.cli import EVENTSCOPE

    bare, password = split_password(url)
    broker = ["--broker", f"{name}=mqtt://127.0.0.1:{port}"] if name else ["--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen([*EVENTSCOPE, "audit", "record", *broker, "-t", "+/hello/request", "--db", bare,
                             "--db-password-env", "TEAM_DB_PASSWORD"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TEAM_DB_PASSWORD": password or ""})
    line = proc.stdout.readline() if proc.stdout else ""
    assert "audit recorder ready" in line, line + (proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
    assert not password or password not in line  # the URL is shown masked
    return proc

