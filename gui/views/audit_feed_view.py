"""Audit feed (placeholder until its feature lands)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from gui.context import AppContext


class AuditFeedView(QWidget):
    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setObjectName("auditFeed")
        self.setAccessibleName("Audit feed")
        layout = QVBoxLayout(self)
        label = QLabel("Audit feed")
        layout.addWidget(label)
