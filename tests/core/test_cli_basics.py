"""The eventscope command: version, help, exit codes, pub and sub against a real Mosquitto."""

from __future__ import annotations

import json
import subprocess
import sys

from eventscope.core import __version__
from tests.conftest import free_port
from tests.helpers.cli import run


def test_version_and_help():
    assert run("--version").stdout.strip() == f"eventscope {__version__}"
    help_text = run("--help").stdout
    for command in ("broker", "sub", "pub", "--demo"):
        assert command in help_text


def test_usage_errors_exit_2_on_stderr():
    result = run("pub", "--topic", "a/+/b", "--payload", "x")
    assert result.returncode == 2
    assert "wildcard" in result.stderr
    assert result.stdout == ""
    assert run("sub", "--filter", "a/#/b").returncode == 2
    assert run("no-such-command").returncode == 2


def test_unreachable_broker_exits_1_with_reason():
    result = run("pub", "--port", str(free_port()), "--topic", "a", "--payload", "x", "--connect-timeout", "2")
    assert result.returncode == 1
    assert "refused" in result.stderr.lower()


def test_headless_commands_do_not_load_qt():
    code = "import sys; from eventscope.launcher import build_parser; build_parser(); print('PySide6' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_sub_help_runs_from_the_launcher_without_qt_or_the_gui_package():
    code = ("import runpy, sys\n"
            "sys.argv = ['eventscope', 'sub', '--help']\n"
            "try:\n    runpy.run_module('eventscope', run_name='__main__')\nexcept SystemExit as exc:\n    code = exc.code\n"
            "loaded = sorted(m for m in sys.modules if m.startswith(('PySide6', 'eventscope.gui', 'qasync', 'pyqtgraph')))\n"
            "print('EXIT', code, 'LOADED', loaded, file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "usage:" in result.stdout and "--topic" in result.stdout  # the sub-command's own help
    assert "EXIT 0 LOADED []" in result.stderr


def test_pub_then_sub_round_trip_with_binary_payload(mosquitto, tmp_path):
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\xff\x00\xfe")
    port = str(mosquitto.port)
    assert run("pub", "--port", port, "-t", "us-east/status", "-m", "<b>up</b>", "-r", "-q", "1").returncode == 0
    assert run("pub", "--port", port, "-t", "eu-central/blob", "-f", str(binary), "-r", "-q", "1").returncode == 0
    result = run("sub", "--port", port, "--filter", "#", "--count", "2", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    rows = sorted((json.loads(line) for line in result.stdout.splitlines()), key=lambda r: r["topic"])
    assert [r["topic"] for r in rows] == ["eu-central/blob", "us-east/status"]
    assert rows[0]["payload"] == "/wD+" and rows[0]["payload_encoding"] == "base64"
    assert rows[1]["payload"] == "<b>up</b>" and rows[1]["retain"] is True
    assert rows[1]["region"] == "us-east"


def test_pub_refuses_payload_file_that_does_not_exist(mosquitto):
    result = run("pub", "--port", str(mosquitto.port), "-t", "a", "-f", "/no/such/file")
    assert result.returncode == 2
    assert "No such file" in result.stderr
