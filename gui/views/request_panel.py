"""Request panel (placeholder until its feature lands)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from gui.context import AppContext


class RequestPanel(QWidget):
    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setObjectName("requestPanel")
        self.setAccessibleName("Request panel")
        layout = QVBoxLayout(self)
        label = QLabel("Request panel")
        layout.addWidget(label)
