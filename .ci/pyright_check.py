"""Run pyright (basic mode, settings in pyproject.toml) and fail on any error outside the baseline.

core/ has no baseline: every error fails. gui/ has the short list below, each entry with its reason;
an error that matches none of them fails, and so does an entry that no longer matches anything (so
the list only shrinks).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (folder, pyright rule, message pattern, why it is accepted)
GUI_BASELINE = [
    ("gui/", "reportCallIssue", r'^No parameter named "\w+"$',
     "PySide6 takes any Qt property as a constructor keyword (objectName=, text=, timeout=); its stubs list none"),
    ("gui/", "reportCallIssue", r'^No overloads for "__init__" match the provided arguments',
     "the same property keywords, on classes whose constructors the stubs declare as overloads"),
]


def main() -> int:
    pyright = Path(sys.executable).with_name("pyright")
    result = subprocess.run([str(pyright), "--outputjson"], cwd=ROOT, capture_output=True, text=True)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        print(result.stdout, result.stderr, sep="\n")
        print("pyright did not produce a report")
        return 1
    used = [0] * len(GUI_BASELINE)
    failures = []
    for item in report["generalDiagnostics"]:
        if item["severity"] != "error":
            continue
        path = Path(item["file"]).resolve().relative_to(ROOT).as_posix()
        message = item["message"].splitlines()[0]
        for index, (folder, rule, pattern, _why) in enumerate(GUI_BASELINE):
            if path.startswith(folder) and item.get("rule") == rule and re.search(pattern, message):
                used[index] += 1
                break
        else:
            line = item["range"]["start"]["line"] + 1
            failures.append(f"{path}:{line}: {message} ({item.get('rule', 'error')})")
    for line in failures:
        print(line)
    stale = [entry for entry, count in zip(GUI_BASELINE, used) if count == 0]
    for folder, rule, pattern, _why in stale:
        print(f"baseline entry matches nothing any more, remove it: {folder} {rule} {pattern}")
    accepted = ", ".join(f"{count} {entry[1]}" for entry, count in zip(GUI_BASELINE, used) if count)
    print(f"pyright: {len(failures)} errors outside the baseline; accepted by the baseline: {accepted or 'none'}")
    return 1 if failures or stale else 0


if __name__ == "__main__":
    sys.exit(main())
