"""Message details (placeholder until its feature lands)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from gui.context import AppContext


class DetailsPane(QWidget):
    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setObjectName("detailsPane")
        self.setAccessibleName("Message details")
        layout = QVBoxLayout(self)
        label = QLabel("Message details")
        layout.addWidget(label)
