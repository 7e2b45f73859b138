"""``eventscope --install-desktop-entry``: put Eventscope in a Linux desktop's application menu.

Writes the shipped ``.desktop`` file (with ``Exec`` pointing at the program that ran, so a pipx
install or a bundle works without PATH) and the icon into the user's XDG data folder.
"""

from __future__ import annotations

import os
import shlex
import sys
from importlib import resources
from pathlib import Path


def data_home() -> Path:
    """``$XDG_DATA_HOME``, or ``~/.local/share`` as the XDG spec says."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def launcher() -> str:
    """The command that starts this Eventscope: the bundle's binary, or the script that ran."""
    if getattr(sys, "frozen", False):
        return shlex.quote(sys.executable)
    program = Path(sys.argv[0]).resolve()
    if program.name == "__main__.py":  # python -m eventscope
        return f"{shlex.quote(sys.executable)} -m eventscope"
    return shlex.quote(str(program))


def install_desktop_entry(target: Path | None = None, command: str | None = None) -> list[Path]:
    """Write the desktop entry and the icon under ``target`` (the XDG data folder). Returns the files written."""
    target = target or data_home()
    shipped = resources.files("eventscope.resources")
    entry = shipped.joinpath("eventscope.desktop").read_text(encoding="utf-8")
    lines = [f"Exec={command or launcher()}" if line.startswith("Exec=") else line for line in entry.splitlines()]
    desktop = target / "applications" / "eventscope.desktop"
    icon = target / "icons" / "hicolor" / "scalable" / "apps" / "eventscope.svg"
    for path in (desktop, icon):
        path.parent.mkdir(parents=True, exist_ok=True)
    desktop.write_text("\n".join(lines) + "\n", encoding="utf-8")
    icon.write_bytes(shipped.joinpath("icons/eventscope.svg").read_bytes())
    return [desktop, icon]
