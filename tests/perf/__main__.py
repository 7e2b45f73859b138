"""Run every benchmark under tests/perf in turn: ``python -m tests.perf``."""

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> int:
    failures = 0
    for module in sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_")):
        print(f"\n===== {module} =====", flush=True)
        try:
            result = importlib.import_module(f"tests.perf.{module}").main([])
        except Exception as exc:  # one broken benchmark should not hide the others
            print(f"{module} failed: {exc!r}")
            result = 1
        failures += bool(result)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
