"""In a frozen bundle, ``sys.executable`` is Eventscope itself, not Python.

Helper processes that the code starts as ``python -I -c SOURCE ...`` (the embedded broker's
watchdog) or ``python -m MODULE ...`` (grpc_tools' protoc) then arrive at Eventscope's own
``main``; ``run_as_python`` runs them as Python would.
"""

from __future__ import annotations

import runpy
import sys


def run_as_python(argv: list[str]) -> bool:
    """Run ``argv`` (without the program name) as ``python`` would if it is ``[-I] -c``/``-m``; False if not."""
    args = argv[1:] if argv[:1] == ["-I"] else list(argv)  # -I (isolated) changes nothing for our own code
    if len(args) >= 2 and args[0] == "-c":
        sys.argv = ["-c", *args[2:]]
        exec(compile(args[1], "<string>", "exec"), {"__name__": "__main__"})  # noqa: S102 (our own source)
        return True
    if len(args) >= 2 and args[0] == "-m":
        sys.argv = [args[1], *args[2:]]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        return True
    return False
