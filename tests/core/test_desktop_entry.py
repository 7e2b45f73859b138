"""``eventscope --install-desktop-entry`` writes a desktop entry that starts this program, and the icon."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from importlib import resources

from tests.helpers.cli import EVENTSCOPE


def test_the_desktop_entry_and_icon_land_in_the_xdg_data_folder(tmp_path):
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path))
    result = subprocess.run([*EVENTSCOPE, "--install-desktop-entry"], capture_output=True, text=True, env=env,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    desktop = tmp_path / "applications" / "eventscope.desktop"
    icon = tmp_path / "icons" / "hicolor" / "scalable" / "apps" / "eventscope.svg"
    assert result.stdout.splitlines() == [f"Wrote {desktop}", f"Wrote {icon}"]
    entry = configparser.ConfigParser(interpolation=None)
    entry.read(desktop)
    section = entry["Desktop Entry"]
    assert section["Exec"] == f"{sys.executable} -m eventscope" and section["Icon"] == "eventscope"
    assert icon.read_bytes() == resources.files("eventscope.resources").joinpath("icons/eventscope.svg").read_bytes()
    started = subprocess.run([*section["Exec"].split(), "--version"], capture_output=True, text=True, timeout=60)
    assert started.stdout.startswith("eventscope ")  # the entry's command runs this Eventscope


def test_an_unwritable_folder_is_a_clear_error(tmp_path):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    env = dict(os.environ, XDG_DATA_HOME=str(blocked))
    result = subprocess.run([*EVENTSCOPE, "--install-desktop-entry"], capture_output=True, text=True, env=env,
                            timeout=60)
    assert result.returncode == 1 and "cannot write the desktop entry" in result.stderr
    assert "Traceback" not in result.stderr
