"""Item data roles as plain ints.

``data()`` runs for every painted cell and every role; comparing the incoming int role with
PySide's enum members costs microseconds each, which adds up to tens of milliseconds a repaint.
"""

from PySide6.QtCore import Qt

DISPLAY = int(Qt.ItemDataRole.DisplayRole.value)
TOOLTIP = int(Qt.ItemDataRole.ToolTipRole.value)
BACKGROUND = int(Qt.ItemDataRole.BackgroundRole.value)
ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole.value)
ACCESSIBLE_TEXT = int(Qt.ItemDataRole.AccessibleTextRole.value)
USER = int(Qt.ItemDataRole.UserRole.value)
TEXT_ROLES = frozenset((DISPLAY, TOOLTIP))
ALIGN_RIGHT = int((Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter).value)
