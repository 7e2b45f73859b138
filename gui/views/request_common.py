"""What the request panel's parts share: where they keep their settings, and the plain-text label they use."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QLabel

SETTINGS_PREFIX = "request/"


def setting(settings: QSettings, key: str, default: Any) -> Any:
    """A request setting as stored (QSettings hands back whatever type its format keeps)."""
    return settings.value(SETTINGS_PREFIX + key, default)


def store_setting(settings: QSettings, key: str, value: Any) -> None:
    settings.setValue(SETTINGS_PREFIX + key, value)


def plain_label(name: str, text: str = "") -> QLabel:
    label = QLabel(text)
    label.setObjectName(name)
    label.setTextFormat(Qt.TextFormat.PlainText)  # payloads and topics are never rich text
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label
