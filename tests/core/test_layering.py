"""core/ stays plain Python: no Qt, no qasync, no gui. Checked here two ways, each file's own imports (AST)
and, transitively, what importing every core module loads; import-linter's contracts in pyproject.toml
(run by .ci/lint on the strict editable install) check the same and the layers inside core.

Also: every package folder is in pyproject.toml's package list, or it would import in a checkout and be
missing from the wheel.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

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


def _declared_packages() -> set[str]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return set(config["tool"]["setuptools"]["packages"])


def _package_folders() -> set[str]:
    """Dotted names of every folder with an ``__init__.py``, as pyproject.toml maps them."""
    mapping = {"core": "eventscope.core", "gui": "eventscope.gui", "resources": "eventscope.resources"}
    names = {"eventscope"}  # gui/launch/ is the package itself
    for folder, package in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            if relative.parts[:1] == ("launch",) and folder == "gui":
                continue
            names.add(".".join((package, *relative.parts)))
    return names


def test_every_package_folder_is_listed_for_the_wheel():
    declared = _declared_packages()
    assert _package_folders() - declared == set()  # a folder that would be missing from the wheel
    mapping = {"eventscope": "gui/launch", "eventscope.core": "core", "eventscope.gui": "gui",
               "eventscope.resources": "resources"}
    for name in declared:  # and nothing listed that is not there (data folders such as icons need no __init__)
        root = max((k for k in mapping if name == k or name.startswith(k + ".")), key=len)
        folder = ROOT / mapping[root] / Path(*name[len(root):].split(".")[1:])
        assert folder.is_dir(), f"{name} is listed in pyproject.toml but {folder} does not exist"


def test_profiles_load_no_mqtt_client_and_no_audit():
    """Reading profiles (the CLI's --profile, the profile manager) loads neither paho's client nor the audit:
    only paho's small topic matcher, through the shared topic rules."""
    code = ("import sys, eventscope.core.profiles.store\n"
            "print(sorted(m for m in sys.modules if m == 'paho.mqtt.client' or m.startswith(("
            "'eventscope.core.mqtt', 'eventscope.core.audit', 'eventscope.core.connections'))))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
