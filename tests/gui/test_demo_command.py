"""``eventscope --demo --screenshot`` renders the real window on the embedded demo and cleans up."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys

from PySide6.QtGui import QImage


def test_demo_command_prints_the_broker_saves_a_screenshot_and_stops_the_broker(tmp_path):
    shot = tmp_path / "demo.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, "-m", "eventscope", "--demo", "--screenshot", str(shot), "--quit-after", "4"],
                            capture_output=True, text=True, timeout=90, env=env)
    assert result.returncode == 0, result.stderr
    match = re.search(r"^Embedded broker: mqtt://127\.0\.0\.1:(\d+)$", result.stdout, re.MULTILINE)
    assert match, result.stdout
    image = QImage(str(shot))
    assert not image.isNull() and image.width() > 800
    with socket.socket() as probe:  # the demo broker is gone with the window
        assert probe.connect_ex(("127.0.0.1", int(match.group(1)))) != 0
