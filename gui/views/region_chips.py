"""A row of checkable region chips, each with a live count and rate."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from core.region_stats import RegionCount


class RegionChips(QWidget):
    """One checkable chip per discovered region. None checked means all regions.

    Signals:
        selectionChanged(frozenset[str]): the user checked or unchecked a chip.
    """

    selectionChanged = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("regionChips")
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.addWidget(QLabel("Regions:"))
        self._layout.addStretch(1)
        self._chips: dict[str, QToolButton] = {}

    @property
    def selected(self) -> frozenset[str]:
        return frozenset(region for region, chip in self._chips.items() if chip.isChecked())

    def chip(self, region: str) -> QToolButton | None:
        return self._chips.get(region)

    def clear(self) -> None:
        for chip in self._chips.values():
            chip.deleteLater()
        self._chips.clear()

    def show_counts(self, counts: list[RegionCount]) -> None:
        """Add chips for new regions and refresh every chip's count and rate."""
        for item in counts:
            chip = self._chips.get(item.region)
            if chip is None:
                chip = QToolButton(self)
                chip.setCheckable(True)
                chip.setObjectName(f"regionChip_{item.region}")
                chip.setAccessibleName(f"Region {item.region or '(none)'}")
                chip.toggled.connect(self._on_toggled)
                self._layout.insertWidget(self._layout.count() - 1, chip)
                self._chips[item.region] = chip
            text = f"{item.region or '(none)'}  {item.count} · {item.rate:.1f}/s"
            if chip.text() != text:
                chip.setText(text)

    def _on_toggled(self, _checked: bool) -> None:
        self.selectionChanged.emit(self.selected)
