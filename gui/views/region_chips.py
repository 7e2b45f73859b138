"""A row of region chips, each with a live count and rate. Checked means shown.

A new region's chip starts checked, so nothing is hidden until the user unticks it. All and
None tick or untick every chip. Chips keep a sorted order and a width that does not jump as
their counts grow.
"""

from __future__ import annotations

from bisect import bisect_left

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from eventscope.core.models.region_stats import RegionCount

WIDTH_TEMPLATE = "✓   888,888 msgs · 8,888.8/s"  # the widest count text a chip is sized for
# Shown and hidden told apart by more than a shade of grey: the palette's highlight with a tick, or muted
# text with a cross.
CHIP_STYLE = ("QToolButton:checked { background-color: palette(highlight); color: palette(highlighted-text); }"
              "QToolButton:!checked { color: palette(mid); }")


class RegionChips(QWidget):
    """Signals:
        selectionChanged(frozenset[str]): the regions now hidden (unticked) changed.
    """

    selectionChanged = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("regionChips")
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.addWidget(QLabel("Regions:"))
        self.all_button = QToolButton(self, objectName="regionChipsAll", text="All")
        self.all_button.setToolTip("Show every region")
        self.none_button = QToolButton(self, objectName="regionChipsNone", text="None")
        self.none_button.setToolTip("Hide every region seen so far (new ones still appear); then tick the ones to show")
        self._layout.addWidget(self.all_button)
        self._layout.addWidget(self.none_button)
        self._first_chip = self._layout.count()
        self._layout.addStretch(1)
        self._chips: dict[str, QToolButton] = {}
        self._counts: dict[str, RegionCount] = {}
        self._order: list[str] = []
        self.all_button.clicked.connect(lambda: self._set_all(True))
        self.none_button.clicked.connect(lambda: self._set_all(False))

    @property
    def hidden(self) -> frozenset[str]:
        """Regions the user unticked."""
        return frozenset(region for region, chip in self._chips.items() if not chip.isChecked())

    @property
    def shown(self) -> frozenset[str]:
        return frozenset(region for region, chip in self._chips.items() if chip.isChecked())

    def chip(self, region: str) -> QToolButton | None:
        return self._chips.get(region)

    def clear(self) -> None:
        for chip in self._chips.values():
            chip.deleteLater()
        self._chips.clear()
        self._counts.clear()
        self._order.clear()

    def show_counts(self, counts: list[RegionCount]) -> None:
        """Add chips (ticked) for new regions, in sorted order, and refresh every chip's count and rate."""
        for item in counts:
            chip = self._chips.get(item.region)
            if chip is None:
                chip = self._new_chip(item.region)
            self._counts[item.region] = item
            self._label(item.region, chip)

    def _label(self, region: str, chip: QToolButton) -> None:
        item = self._counts.get(region)
        if item is None:
            return
        name = region or "(none)"
        shown = chip.isChecked()
        text = f"{'✓' if shown else '✕'} {name}  {item.count:,} msgs · {item.rate:.1f}/s"
        if chip.text() != text:
            chip.setText(text)
            chip.setToolTip(f"{name}: {item.count:,} messages, {item.rate:.1f}/s now. "
                            f"{'Shown: click to hide' if shown else 'Hidden: click to show'}.")

    def _new_chip(self, region: str) -> QToolButton:
        chip = QToolButton(self)
        chip.setCheckable(True)
        chip.setChecked(True)
        chip.setObjectName(f"regionChip_{region}")
        chip.setAccessibleName(f"Region {region or '(none)'}")
        chip.setStyleSheet(CHIP_STYLE)
        metrics = chip.fontMetrics()
        chip.setMinimumWidth(metrics.horizontalAdvance((region or "(none)") + WIDTH_TEMPLATE) + 12)
        chip.toggled.connect(self._on_toggled)
        chip.toggled.connect(lambda _checked, r=region, c=chip: self._label(r, c))
        position = bisect_left(self._order, region)
        self._order.insert(position, region)
        self._layout.insertWidget(self._first_chip + position, chip)
        self._chips[region] = chip
        return chip

    def _set_all(self, shown: bool) -> None:
        for region, chip in self._chips.items():
            chip.blockSignals(True)
            chip.setChecked(shown)
            chip.blockSignals(False)
            self._label(region, chip)
        self.selectionChanged.emit(self.hidden)

    def _on_toggled(self, _checked: bool) -> None:
        self.selectionChanged.emit(self.hidden)
