"""core/ stays plain Python: no Qt, no qasync, no gui. Checked two ways: each file's own imports (AST),
and, transitively, what importing every core module loads.

import-linter cannot check this layout: its graph builder (grimp) takes only top-level packages, and
eventscope.core is mapped from the repository's core/ folder under the one eventscope package.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("PySide6", "qasync", "pyqtgraph", "shiboken6", "eventscope.gui")


def _imported_modules(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def _forbidden(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in FORBIDDEN)


def test_no_core_module_imports_qt_or_gui():
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / "core").rglob("*.py"))
        for line, module in _imported_modules(path)
        if _forbidden(module)
    ]
    assert offenders == []


def test_importing_core_loads_no_qt():
    code = ("import sys, importlib, pkgutil, eventscope.core as core\n"
            "for m in pkgutil.walk_packages(core.__path__, 'eventscope.core.'):\n"
            "    importlib.import_module(m.name)\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'qasync', 'pyqtgraph')\n"
            "       or m.startswith('eventscope.gui')]\n"
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_import_goes_through_the_eventscope_package():
    """A bare ``core``/``gui`` import works in a checkout but not in an installed wheel."""
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for folder in ("core", "gui", "tests")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for line, module in _imported_modules(path)
        if module.split(".")[0] in ("core", "gui")
    ]
    assert offenders == []
