"""A table's columns, shown or hidden from its header's context menu, and remembered.

Until the user chooses, ``auto_hidden`` decides (e.g. columns that are empty for the workspace).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from PySide6.QtCore import QObject, QPoint, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QTableView


class ColumnChooser(QObject):
    def __init__(self, table: QTableView, names: tuple[str, ...], settings, key: str,
                 auto_hidden: Callable[[], set[str]] = set) -> None:
        super().__init__(table)
        self.table, self.names, self.settings, self.key = table, names, settings, key
        self.auto_hidden = auto_hidden
        header = table.horizontalHeader()
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._show_menu)
        self.apply()

    def chosen(self) -> set[str] | None:
        """The columns the user hid, or None while they never chose."""
        raw = self.settings.value(self.key)
        try:
            hidden = json.loads(raw) if isinstance(raw, str) else None
        except ValueError:
            return None
        return {name for name in hidden if name in self.names} if isinstance(hidden, list) else None

    def hidden(self) -> set[str]:
        chosen = self.chosen()
        return chosen if chosen is not None else self.auto_hidden()

    def apply(self) -> None:
        hidden = self.hidden()
        for column, name in enumerate(self.names):
            self.table.setColumnHidden(column, name in hidden)

    def set_shown(self, name: str, shown: bool) -> None:
        hidden = self.hidden()
        hidden = hidden - {name} if shown else hidden | {name}
        if len(hidden) >= len(self.names):
            return  # at least one column stays
        self.settings.setValue(self.key, json.dumps(sorted(hidden)))
        self.apply()

    def menu(self) -> QMenu:
        menu = QMenu(self.table)
        hidden = self.hidden()
        for name in self.names:
            action = QAction(name, menu, checkable=True, checked=name not in hidden)
            action.toggled.connect(lambda shown, n=name: self.set_shown(n, shown))
            menu.addAction(action)
        return menu

    def _show_menu(self, position: QPoint) -> None:
        self.menu().popup(self.table.horizontalHeader().mapToGlobal(position))
