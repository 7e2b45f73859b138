"""Run every benchmark under tests/perf in turn: ``python -m tests.perf``."""

import importlib
import pkgutil
import sys
from pathlib import Path

# Arguments for a benchmark whose defaults are too long for a run of all of them (the soak's 30 minutes run alone).
SHORT_RUNS = {"bench_soak": ["--minutes", "2"]}


def main() -> int:
    failures = 0
    for module in sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_")):
        print(f"\n===== {module} =====", flush=True)
        try:
            result = importlib.import_module(f"tests.perf.{module}").main(SHORT_RUNS.get(module, []))
        except Exception as exc:  # one broken benchmark should not hide the others
            print(f"{module} failed: {exc!r}")
            result = 1
        failures += bool(result)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
