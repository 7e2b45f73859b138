"""Item data roles as plain ints.

``data()`` runs for every painted cell and every role; comparing the incoming int role with
PySide's enum members costs microseconds each, which adds up to tens of milliseconds a repaint.
"""

from PySide6.QtCore import Qt

DISPLAY = int(Qt.DisplayRole.value)
TOOLTIP = int(Qt.ToolTipRole.value)
BACKGROUND = int(Qt.BackgroundRole.value)
ALIGNMENT = int(Qt.TextAlignmentRole.value)
ACCESSIBLE_TEXT = int(Qt.AccessibleTextRole.value)
USER = int(Qt.UserRole.value)
TEXT_ROLES = frozenset((DISPLAY, TOOLTIP))
ALIGN_RIGHT = int((Qt.AlignRight | Qt.AlignVCenter).value)
