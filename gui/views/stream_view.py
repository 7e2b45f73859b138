"""Streams (placeholder until its feature lands)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from gui.context import AppContext


class StreamView(QWidget):
    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setObjectName("streamView")
        self.setAccessibleName("Streams")
        layout = QVBoxLayout(self)
        label = QLabel("Streams")
        layout.addWidget(label)
