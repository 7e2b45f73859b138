"""Numbers read back from QSettings: a file edited by hand must not stop the window from starting."""

from __future__ import annotations

from PySide6.QtCore import QSettings


def bounded_int(settings: QSettings, key: str, default: int, lowest: int, highest: int) -> int:
    """The setting as an int within [lowest, highest]; ``default`` when it is missing or not a number."""
    try:
        value = int(str(settings.value(key, default)))
    except (TypeError, ValueError):
        value = default
    return min(max(value, lowest), highest)
