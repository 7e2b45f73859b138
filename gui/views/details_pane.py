"""Details of one message: metadata, decoded payload, and for a tree topic its history, plot and diff.

Any view may ask for a message with ``context.messageSelected``; the topic tree announces its
current topic with ``context.topicSelected``. Every payload is shown as plain text.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import replace
from datetime import datetime

import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QTextCursor, QTextFormat
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from eventscope.core.decoding.decoders import DECODER_LABELS, DECODERS, decode_payload, numeric_fields, numeric_value
from eventscope.core.models.message_history import TopicMessage
from eventscope.core.models.topic_forest import broker_of
from eventscope.core.models.topic_tree import DEFAULT_DISPLAY_LIMIT as DISPLAY_LIMIT
from eventscope.core.models.topic_tree import TopicNode
from eventscope.core.mqtt.session import SessionError
from eventscope.core.payload_text import decode_utf8, preview
from eventscope.core.records import MessageRecord
from eventscope.core.sparkplug.commands import edge_node_of
from eventscope.core.sparkplug.state import UNKNOWN_ALIAS, is_unnamed_metric
from eventscope.gui.context import AppContext
from eventscope.gui.futures import FutureWatcher
from eventscope.gui.status_colours import status_colour, status_style
from eventscope.gui.views.elided_label import ElidedLabel
from eventscope.gui.views.plot_style import ClockAxis, fit_values, follow_palette

REFRESH_MS = 300  # how often the pane checks the shown topic for new messages
SPLITTER_KEY = "details/splitter"  # payload above, history/plot/diff below: where the user put it
HISTORY_LINES_KEPT = 1_000  # decoded history rows cached (a few times the history's length)
PAYLOAD_FIELD = "(payload)"
ALL_FIELDS = "(all numeric fields)"
DECODERS_KEY = "details/decoders"  # topic → the decoder the user picked for it
MAX_REMEMBERED_DECODERS = 500
DIFF_TEXT_LIMIT = 256 * 1024
DIFF_LINE_LIMIT = 2_000  # lines a side in the diff (a 2,000-line JSON diff takes well under 0.1 s)


def _plain_label(name: str) -> QLabel:
    label = QLabel("", objectName=name)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class DetailsPane(QWidget):
    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setObjectName("detailsPane")
        self.setAccessibleName("Message details")
        self.node: TopicNode | None = None
        self.message: TopicMessage | MessageRecord | None = None
        self._shown_count = -1
        self._history: list[TopicMessage] = []
        self._history_lines: dict[tuple[int, float], str] = {}  # decoded history rows of the node shown
        self._follow_latest = True

        self.topic_edit = QLineEdit(objectName="detailsTopic")
        self.topic_edit.setReadOnly(True)  # read-only but selectable: the topic can be copied
        self.qos_label = _plain_label("detailsQos")
        self.retain_label = _plain_label("detailsRetain")
        self.time_label = _plain_label("detailsTime")
        self.size_label = _plain_label("detailsSize")
        # Elided (whole in its tooltip): a long note must never widen the pane and crush the tree.
        self.truncated_label = ElidedLabel(objectName="detailsTruncated", mode=Qt.TextElideMode.ElideRight)
        self.truncated_label.setStyleSheet(status_style("error"))
        self.truncated_label.hide()  # its row takes no height until a payload was cut
        # One line each, elided, whole in the tooltip: a long property or note must never set the pane's
        # minimum width (a 200-byte correlation id once widened the window to 3,265 px).
        self.properties_label = ElidedLabel(objectName="detailsProperties", mode=Qt.TextElideMode.ElideRight)
        self.decoder_combo = QComboBox(objectName="detailsDecoder")
        for name in DECODERS:
            self.decoder_combo.addItem(DECODER_LABELS[name], name)
        self.decoder_note = ElidedLabel(objectName="detailsDecoderNote", mode=Qt.TextElideMode.ElideRight)
        self.payload_edit = QPlainTextEdit(objectName="detailsPayload")
        self.payload_edit.setPlaceholderText("Select a topic in the tree, or a row of a stream or of the audit feed: "
                                             "its message, history, plot and diff show here")
        self.payload_edit.setReadOnly(True)
        self.payload_edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)

        self.history_list = QListWidget(objectName="detailsHistory")
        self.plot = pg.PlotWidget(objectName="detailsPlot", axisItems={"bottom": ClockAxis()})
        self.plot.setLabel("left", "value")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.addLegend(offset=(-10, 10))
        first_colour = follow_palette(self.plot)
        self.plot_curve = self.plot.plot([], [], pen=pg.mkPen(first_colour, width=2), symbol="o", symbolSize=4,
                                         symbolBrush=first_colour)
        self._extra_curves: list = []  # one per further field when "all numeric fields" is chosen
        self.plot_field = QComboBox(objectName="detailsPlotField")
        self.plot_note = _plain_label("detailsPlotNote")
        self.diff_edit = QPlainTextEdit(objectName="detailsDiff")  # the unified diff, for copying
        self.diff_edit.setReadOnly(True)
        self.diff_edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.diff_old = QPlainTextEdit(objectName="detailsDiffPrevious", readOnly=True)
        self.diff_new = QPlainTextEdit(objectName="detailsDiffSelected", readOnly=True)
        for side in (self.diff_old, self.diff_new):
            side.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.diff_old.verticalScrollBar().valueChanged.connect(self.diff_new.verticalScrollBar().setValue)
        self.diff_new.verticalScrollBar().valueChanged.connect(self.diff_old.verticalScrollBar().setValue)

        # Compact: the payload below is the point of the pane, so the facts about it share rows.
        form = QFormLayout()
        form.setVerticalSpacing(2)
        form.addRow("Topic", self.topic_edit)
        meta = QHBoxLayout()
        meta.setSpacing(14)  # the facts apart, not run together
        for label in (self.time_label, self.qos_label, self.retain_label, self.size_label):
            meta.addWidget(label)
        meta.addStretch(1)
        form.addRow("Message", meta)
        form.addRow("", self.truncated_label)  # a row of its own, shown only for a cut payload
        form.addRow("Properties", self.properties_label)
        # Sparkplug DATA whose aliases no BIRTH named yet: the way to get their names, where the problem shows.
        self.rebirth_button = QPushButton("Request rebirth", objectName="detailsRequestRebirth")
        self.rebirth_button.setToolTip("Ask the edge node to send its BIRTHs again (a Sparkplug NCMD), so its "
                                       "metrics get their names")
        self.rebirth_button.hide()
        self._watcher = FutureWatcher(self)  # the rebirth request's outcome, on this thread
        self.rebirth_button.clicked.connect(self._on_rebirth_clicked)
        decoder_row = QHBoxLayout()
        decoder_row.addWidget(self.decoder_combo)
        decoder_row.addWidget(self.decoder_note, 1)
        decoder_row.addWidget(self.rebirth_button)
        form.addRow("Decode as", decoder_row)

        plot_page = QWidget()
        plot_layout = QVBoxLayout(plot_page)
        plot_layout.setContentsMargins(2, 2, 2, 2)
        plot_top = QHBoxLayout()
        plot_top.addWidget(QLabel("Value"))
        plot_top.addWidget(self.plot_field, 1)
        plot_top.addWidget(self.plot_note)  # one row with the choice: the plot keeps the height
        plot_layout.addLayout(plot_top)
        plot_layout.addWidget(self.plot, 1)
        self.tabs = QTabWidget(objectName="detailsTabs")
        self.tabs.addTab(self.history_list, "History")
        self.tabs.addTab(plot_page, "Plot")
        side_by_side = QSplitter(Qt.Orientation.Horizontal, objectName="detailsDiffSides")
        side_by_side.addWidget(self.diff_old)
        side_by_side.addWidget(self.diff_new)
        self.diff_tabs = QTabWidget(objectName="detailsDiffViews")
        self.diff_tabs.setTabPosition(QTabWidget.TabPosition.South)
        self.diff_tabs.addTab(side_by_side, "Side by side")
        self.diff_tabs.addTab(self.diff_edit, "Unified")
        self.tabs.addTab(self.diff_tabs, "Diff")
        self._diff_position = -1
        self.tabs.currentChanged.connect(lambda _index: self._show_diff(self._diff_position))

        # The payload and the history/plot/diff tabs share the height through a splitter the user drags.
        self.payload_edit.setMinimumHeight(60)
        self.plot.setMinimumHeight(70)
        self.tabs.setMinimumHeight(130)
        self.splitter = QSplitter(Qt.Orientation.Vertical, objectName="detailsSplitter")
        self.splitter.addWidget(self.payload_edit)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 3)  # the payload gets the room by default …
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        saved = context.settings.value(SPLITTER_KEY)
        if saved is not None:  # … and where the user dragged it, from the last run on
            self.splitter.restoreState(saved)
        self.splitter.splitterMoved.connect(
            lambda *_: context.settings.setValue(SPLITTER_KEY, self.splitter.saveState()))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(form)
        layout.addWidget(self.splitter, 1)

        self.decoder_combo.currentIndexChanged.connect(lambda _index: self._history_lines.clear())
        self.decoder_combo.currentIndexChanged.connect(lambda _index: self._show_payload())
        self.decoder_combo.activated.connect(self._on_decoder_chosen)  # the user's pick, remembered per topic
        self.history_list.currentRowChanged.connect(self._on_history_row_changed)
        self.plot_field.currentIndexChanged.connect(self._on_plot_field_changed)
        context.messageSelected.connect(self.show_record)
        context.topicSelected.connect(self.show_topic)
        self._refresh = QTimer(self)
        self._refresh.setInterval(REFRESH_MS)
        self._refresh.timeout.connect(self._on_refresh)
        self._refresh.start()

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:  # light ↔ dark: the plot follows
            colour = follow_palette(self.plot)
            self.plot_curve.setPen(pg.mkPen(colour, width=2))
            self.plot_curve.setSymbolBrush(colour)

    # ----- what to show -------------------------------------------------------------------
    def show_record(self, record) -> None:
        """A message from any view (MessageRecord, e.g. an audit row): the message itself, with its topic's
        history, plot and diff when the tree knows the topic (else they say why they are empty)."""
        known = self.context.workspace.tree.node(record.topic, record.broker_id) if record.broker_id else None
        if known is not None and known is not self.node:
            self.show_topic(known)
        if self.node is not None and self.node.topic == record.topic:
            self._follow_latest = False
        else:
            self.node = None
            self._history = []
            self._shown_count = -1
            self.history_list.clear()
            self.history_list.addItem("No history here: this topic has not arrived since the window started")
            self.diff_edit.setPlainText("")
            self.plot_curve.setData([], [])
            self.plot_field.clear()
        if len(record.payload) > DISPLAY_LIMIT:  # an audit row can hold 16 MiB: decoding it all would stall the window
            self._show_message(record.topic, replace(record, payload=record.payload[:DISPLAY_LIMIT]),
                               original_size=len(record.payload))
        else:
            self._show_message(record.topic, record)

    def show_topic(self, node: TopicNode) -> None:
        """A topic from the tree: its last message, history, plot and diff; follows new messages."""
        changed = node is not self.node
        if changed:
            self._history_lines.clear()
        self.node = node
        self._follow_latest = True
        if changed:
            self._fill_plot_fields()
        self._refresh_topic(force=True)

    def _history_line(self, message: TopicMessage) -> str:
        """One line for a history row: text as it is; binary in its decoded form (Sparkplug, Protobuf, …)
        when a decoder reads it, else its hex start."""
        if decode_utf8(message.payload[:400]) is not None or self.node is None:
            return preview(message.payload, 100)
        key = (id(message), message.received)  # a busy topic refreshes often: decode each message once
        line = self._history_lines.get(key)
        if line is None:
            broker = broker_of(self.node)
            record = MessageRecord(self.node.topic, message.payload, message.qos, message.retain, message.received,
                                   properties=message.properties, broker_id=broker.name if broker is not None else "")
            decoder = self.decoder_combo.currentData() or "auto"
            decoded = self.context.workspace.decode(record, "" if decoder == "auto" else decoder)
            if decoded.error or decoded.decoder in ("hex", "base64"):
                line = preview(message.payload, 100)
            else:
                one_line = " ".join(decoded.text.split())
                line = one_line[:100] + ("…" if len(one_line) > 100 else "")
            if len(self._history_lines) > 4 * HISTORY_LINES_KEPT:
                self._history_lines.clear()
            self._history_lines[key] = line
        return line

    def _on_refresh(self) -> None:
        if self.node is not None and self.node.count != self._shown_count and self.isVisible():
            self._refresh_topic()

    def _refresh_topic(self, force: bool = False) -> None:
        node = self.node
        if node is None or (not force and node.count == self._shown_count):
            return
        self._shown_count = node.count
        self._history = list(node.history or ())
        selected_row = self.history_list.currentRow()
        self.history_list.blockSignals(True)
        self.history_list.clear()
        # Newest first: each item is one plain-text line (a list item never renders markup).
        for message in reversed(self._history):
            item = QListWidgetItem(f"{_time_text(message.received)}  {self._history_line(message)}")
            self.history_list.addItem(item)
        if self._follow_latest or selected_row < 0:
            self.history_list.setCurrentRow(0)
        else:
            self.history_list.setCurrentRow(min(selected_row, self.history_list.count() - 1))
        self.history_list.blockSignals(False)
        if self._follow_latest and self._history:
            self._show_message(node.topic, self._history[-1])
            self._show_diff(len(self._history) - 1)
        self._update_plot()

    def _on_history_row_changed(self, row: int) -> None:
        if row < 0 or not self._history or self.node is None:
            return
        self._follow_latest = row == 0
        position = len(self._history) - 1 - row
        self._show_message(self.node.topic, self._history[position])
        self._show_diff(position)

    # ----- message -----------------------------------------------------------------------
    def _show_message(self, topic: str, message, original_size: int | None = None) -> None:
        """``original_size``: the size of a payload that was cut to ``message.payload`` for showing."""
        self.message = message
        if topic != self.topic_edit.text():
            self._select_decoder_for(topic)
        self.topic_edit.setText(topic)
        self.topic_edit.setCursorPosition(0)
        self.qos_label.setText(f"QoS {message.qos}")
        self.retain_label.setText("retained" if message.retain else "not retained")
        size = original_size or getattr(message, "original_size", len(message.payload))
        self.size_label.setText(f"{size} B")
        truncated = original_size is not None or getattr(message, "truncated", False)
        self.truncated_label.setText(f"truncated: showing the first {len(message.payload)} of {size} B" if truncated else "")
        self.truncated_label.setVisible(truncated)
        self.time_label.setText(_time_text(message.received, with_date=True))
        props = message.properties.as_dict()
        self.properties_label.setText(json.dumps(props, ensure_ascii=False) if props else "none")
        self._show_payload()

    def _show_payload(self) -> None:
        message = self.message
        if message is None:
            return
        decoder = self.decoder_combo.currentData() or "auto"
        decoded = self.context.workspace.decode(self._as_record(message), "" if decoder == "auto" else decoder)
        self.payload_edit.setPlainText(decoded.text)
        if decoded.error:
            note = decoded.error
        elif decoded.rule_description and decoder == "auto":
            note = f"decoded by {decoded.rule_description}"
        else:
            note = f"auto: {DECODER_LABELS.get(decoded.decoder, decoded.decoder)}" if decoder == "auto" else ""
        # The decoder's warnings (a seq gap, an unknown alias) beside how it decoded, where they are seen at
        # once, not below the payload and out of view; whole in the tooltip.
        warnings = "; ".join(decoded.notes)
        self.decoder_note.setText(f"{note} · {warnings}" if note and warnings else note or warnings)
        self.decoder_note.setStyleSheet(status_style("warn") if warnings else "")
        unnamed = is_unnamed_metric(self.topic_edit.text()) or any(UNKNOWN_ALIAS in n for n in decoded.notes)
        self.rebirth_button.setVisible(unnamed and edge_node_of(self.topic_edit.text()) is not None)

    def _on_rebirth_clicked(self) -> None:
        broker = broker_of(self.node) if self.node is not None else None
        broker_id = broker.name if broker is not None else getattr(self.message, "broker_id", "")
        try:
            sent = self.context.request_rebirth(broker_id, self.topic_edit.text())
        except (SessionError, ValueError) as exc:
            self.decoder_note.setText(f"Rebirth not requested: {exc}")
            return
        self.decoder_note.setText("Requesting a rebirth…")
        self._watcher.watch(sent, lambda f: self.decoder_note.setText(
            "Rebirth requested: names follow with the edge node's BIRTHs" if f.exception() is None
            else f"Rebirth not requested: {f.exception()}"))

    def _as_record(self, message: TopicMessage | MessageRecord) -> MessageRecord:
        if isinstance(message, MessageRecord):
            return message
        broker = broker_of(self.node) if self.node is not None else None
        return MessageRecord(self.topic_edit.text(), message.payload, message.qos, message.retain, message.received,
                             properties=message.properties, broker_id=broker.name if broker is not None else "")

    # ----- the decoder, remembered per topic ---------------------------------------------------
    def _decoder_choices(self) -> dict[str, str]:
        try:
            raw = self.context.settings.value(DECODERS_KEY, "{}") or "{}"
            if not isinstance(raw, (str, bytes, bytearray)):  # json.loads would raise TypeError
                return {}
            saved = json.loads(raw)
        except (TypeError, ValueError):
            return {}
        return saved if isinstance(saved, dict) else {}

    def _on_decoder_chosen(self, _index: int) -> None:
        """The user picked a decoder: remember it for this topic only (auto forgets it)."""
        topic = self.topic_edit.text()
        if topic:
            choices = self._decoder_choices()
            decoder = self.decoder_combo.currentData() or "auto"
            if decoder == "auto":
                choices.pop(topic, None)
            else:
                choices[topic] = decoder
                while len(choices) > MAX_REMEMBERED_DECODERS:
                    choices.pop(next(iter(choices)))
            self.context.settings.setValue(DECODERS_KEY, json.dumps(choices))

    def _select_decoder_for(self, topic: str) -> None:
        decoder = self._decoder_choices().get(topic, "auto")
        index = self.decoder_combo.findData(decoder)
        self.decoder_combo.blockSignals(True)  # the message is not set yet: _show_message shows it once
        self.decoder_combo.setCurrentIndex(index if index >= 0 else 0)
        self.decoder_combo.blockSignals(False)

    def _show_diff(self, position: int) -> None:
        """history[position] against the message before it: side by side with removed and added lines
        coloured, and as a unified diff. Payloads stay plain text; colour comes from line selections.

        Only while the Diff tab is shown (it is worked out again when the tab is opened), and on at most
        ``DIFF_LINE_LIMIT`` lines a side: a line diff can be quadratic, and this runs on the window's thread.
        """
        self._diff_position = position
        if self.tabs.currentWidget() is not self.diff_tabs:
            return
        if position <= 0 or position >= len(self._history):
            for view in (self.diff_edit, self.diff_old, self.diff_new):
                view.setPlainText("(no previous message to compare with)")
                view.setExtraSelections([])
            return
        old, new = _diff_text(self._history[position - 1]), _diff_text(self._history[position])
        old_lines, new_lines = old.splitlines()[:DIFF_LINE_LIMIT], new.splitlines()[:DIFF_LINE_LIMIT]
        cut = max(len(old.splitlines()), len(new.splitlines())) > DIFF_LINE_LIMIT
        matcher = difflib.SequenceMatcher(None, old_lines, new_lines)
        lines = list(difflib.unified_diff(old_lines, new_lines, "previous", "selected", lineterm=""))
        if cut:
            lines.append(f"(compared the first {DIFF_LINE_LIMIT:,} lines only)")
        self.diff_edit.setPlainText("\n".join(lines) or "(identical to the previous message)")
        removed, added = set(), set()
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag in ("replace", "delete"):
                removed.update(range(i1, i2))
            if tag in ("replace", "insert"):
                added.update(range(j1, j2))
        self.diff_old.setPlainText("\n".join(old_lines))
        self.diff_new.setPlainText("\n".join(new_lines))
        self.diff_old.setExtraSelections(_line_marks(self.diff_old, removed, "error"))
        self.diff_new.setExtraSelections(_line_marks(self.diff_new, added, "ok"))
        self.changed_lines = (sorted(removed), sorted(added))

    # ----- plot --------------------------------------------------------------------------------
    def _fill_plot_fields(self) -> None:
        self.plot_field.blockSignals(True)
        self.plot_field.clear()
        self.plot_field.addItem(PAYLOAD_FIELD, "")
        last = self.node.last if self.node is not None else None
        fields = numeric_fields(last.payload) if last is not None else []
        for path in fields:
            self.plot_field.addItem(path, path)
        if len(fields) > 1:
            self.plot_field.addItem(ALL_FIELDS, ALL_FIELDS)
        # For a JSON object with numbers, plotting its first number beats plotting nothing.
        if last is not None and numeric_value(last.payload) is None and self.plot_field.count() > 1:
            self.plot_field.setCurrentIndex(1)
        self.plot_field.blockSignals(False)

    def _on_plot_field_changed(self, _index: int) -> None:
        self._update_plot()

    def _update_plot(self) -> None:
        field = self.plot_field.currentData() or ""
        for curve in self._extra_curves:
            self.plot.removeItem(curve)
        self._extra_curves = []
        if not self._history:
            self.plot_curve.setData([], [])
            return
        fields = [self.plot_field.itemData(i) for i in range(1, self.plot_field.count())
                  if self.plot_field.itemData(i) != ALL_FIELDS] if field == ALL_FIELDS else [field]
        xs, ys = self._series(fields[0])
        several = len(fields) > 1
        # Several fields share one axis only scaled, each to its own min … max (named in the legend);
        # their raw values on one axis made the small ones flat lines and the labels overlap.
        self.plot.setLabel("left", "scaled 0 … 1" if several else (fields[0] or "value"))
        first_name = _legend_name(fields[0], ys, several)
        self.plot_curve.setData(xs, _scaled(ys) if several else ys)
        self.plot_curve.opts["name"] = first_name
        fit_values(self.plot, [0.0, 1.0] if several else ys)
        named = [(self.plot_curve, first_name)]
        for number, other in enumerate(fields[1:], start=1):
            other_xs, other_ys = self._series(other)
            colour = pg.intColor(number, hues=max(len(fields), 2))
            curve = self.plot.plot(other_xs, _scaled(other_ys), pen=pg.mkPen(colour, width=2), symbol="o",
                                   symbolSize=3, symbolBrush=colour)
            curve.opts["name"] = _legend_name(other, other_ys, True)
            self._extra_curves.append(curve)
            named.append((curve, curve.opts["name"]))
        item = self.plot.getPlotItem()
        legend = item.legend if item is not None else None  # rebuilt: the first curve's name follows the field
        if legend is not None:
            legend.clear()
            for curve, name in named:
                legend.addItem(curve, name)
            legend.setColumnCount(max(1, len(named)))  # side by side: one row over the plot, not a column of them
            legend.setVisible(several)  # one field: the axis names it
        self.plot_note.setText(f"{len(ys)} numeric value{'s' if len(ys) != 1 else ''} of {len(self._history)}"
                               if ys else "No numeric values in this topic's history")

    def _series(self, field: str) -> tuple[list[float], list[float]]:
        """(epoch seconds, values) of ``field`` over the history, for the time axis."""
        xs, ys = [], []
        for message in self._history:
            value = numeric_value(message.payload, field)
            if value is not None:
                xs.append(message.received)
                ys.append(value)
        return xs, ys

    @property
    def plotted_values(self) -> list[float]:
        _xs, ys = self.plot_curve.getData()
        return [] if ys is None else [float(y) for y in ys]


def _line_marks(view: QPlainTextEdit, lines: set[int], kind: str) -> list:
    """Whole-line background marks for ``lines`` of ``view``, in the status colour ``kind``, translucent."""
    colour = status_colour(kind)
    colour.setAlpha(60)
    marks = []
    document = view.document()
    for number in sorted(lines):
        block = document.findBlockByNumber(number)
        if not block.isValid():
            continue
        mark = QTextEdit.ExtraSelection()
        mark.format.setBackground(colour)
        mark.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
        mark.cursor = QTextCursor(block)
        marks.append(mark)
    return marks


def _scaled(values: list[float]) -> list[float]:
    """``values`` mapped onto 0 … 1 by their own min and max (a constant series sits at 0.5)."""
    if not values:
        return values
    low, high = min(values), max(values)
    return [0.5] * len(values) if high == low else [(v - low) / (high - low) for v in values]


def _legend_name(field: str, values: list[float], scaled: bool) -> str:
    name = field or PAYLOAD_FIELD
    return f"{name} ({min(values):g} … {max(values):g})" if scaled and values else name


def _time_text(seconds: float, with_date: bool = False) -> str:
    moment = datetime.fromtimestamp(seconds)
    return moment.isoformat(sep=" ", timespec="milliseconds") if with_date else moment.strftime("%H:%M:%S.%f")[:-3]


def _diff_text(message: TopicMessage) -> str:
    return decode_payload(message.payload[:DIFF_TEXT_LIMIT], "auto", message.properties.content_type).text
