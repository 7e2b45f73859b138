"""The JSON check and the Format button beside a payload editor (request panel and Publish dialog)."""

from __future__ import annotations

import json

from PySide6.QtWidgets import QLabel, QPlainTextEdit, QPushButton


class JsonPayloadCheck:
    """Says whether ``editor`` holds valid JSON in ``label``, and pretty-prints it when ``button`` is clicked.
    A payload that is not JSON is still sent, as plain text: the label says so."""

    def __init__(self, editor: QPlainTextEdit, label: QLabel, button: QPushButton) -> None:
        self.editor, self.label, self.button = editor, label, button
        button.setToolTip("Pretty-print the JSON payload")
        button.clicked.connect(self.format)
        editor.textChanged.connect(self.check)
        self.check()

    def check(self) -> None:
        text = self.editor.toPlainText()
        if not text.strip():
            self.label.setText("Empty payload")
            self.button.setEnabled(False)
            return
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            self.label.setText(f"Not JSON ({exc.msg}, line {exc.lineno}): sent as plain text")
            self.button.setEnabled(False)
        else:
            self.label.setText("Valid JSON")
            self.button.setEnabled(True)

    def format(self) -> None:
        try:
            formatted = json.dumps(json.loads(self.editor.toPlainText()), indent=2, ensure_ascii=False)
        except ValueError:
            return
        self.editor.setPlainText(formatted)
