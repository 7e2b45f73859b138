"""Topic tree (placeholder until its feature lands)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from gui.context import AppContext


class TopicTreeView(QWidget):
    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setObjectName("topicTree")
        self.setAccessibleName("Topic tree")
        layout = QVBoxLayout(self)
        label = QLabel("Topic tree")
        layout.addWidget(label)
