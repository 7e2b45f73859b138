"""The ``eventscope`` command line as tests start it: ``EVENTSCOPE`` and ``run``."""

from __future__ import annotations

import subprocess
import sys

EVENTSCOPE = [sys.executable, "-m", "eventscope"]


def run(*args: str, timeout: float = 30, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*EVENTSCOPE, *args], capture_output=True, text=True, timeout=timeout, **kwargs)
