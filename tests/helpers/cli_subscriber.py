"""An ``eventscope sub --format jsonl`` child process for tests: started, waited for, its lines read."""

from __future__ import annotations

import json
import subprocess

from tests.helpers.cli import EVENTSCOPE


def start_jsonl_sub(port: int, count: int, *extra: str, topic_filter: str = "#") -> subprocess.Popen:
    """``eventscope sub`` on ``topic_filter`` until ``count`` lines; returns once it is subscribed."""
    proc = subprocess.Popen(EVENTSCOPE + ["sub", "--port", str(port), "--filter", topic_filter, "--format", "jsonl",
                                          "--count", str(count), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert f"subscribed to {topic_filter}" in proc.stderr.readline()
    return proc


def jsonl_lines(proc: subprocess.Popen, timeout: float = 30) -> list[dict]:
    """Every line the process printed, once it exits (killed by PID if it does not in ``timeout``)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err
    return [json.loads(line) for line in out.splitlines()]
