"""Details of one message: metadata, decoded payload, and for a tree topic its history, plot and diff.

Any view may ask for a message with ``context.messageSelected``; the topic tree announces its
current topic with ``context.topicSelected``. Every payload is shown as plain text.
"""

from __future__ import annotations

import difflib
import json
from datetime import datetime

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QComboBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem,
                               QPlainTextEdit, QSplitter, QTabWidget, QVBoxLayout, QWidget)

from core.decoders import DECODER_LABELS, DECODERS, decode_payload, numeric_fields, numeric_value
from core.payload_text import preview
from core.topic_tree import TopicMessage, TopicNode
from gui.context import AppContext
from gui.status_colours import status_style

REFRESH_MS = 300  # how often the pane checks the shown topic for new messages
PAYLOAD_FIELD = "(payload)"
DIFF_TEXT_LIMIT = 256 * 1024


def _plain_label(name: str) -> QLabel:
    label = QLabel("", objectName=name)
    label.setTextFormat(Qt.PlainText)
    label.setTextInteractionFlags(Qt.TextSelectableByMouse)
    return label


class DetailsPane(QWidget):
    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setObjectName("detailsPane")
        self.setAccessibleName("Message details")
        self.node: TopicNode | None = None
        self.message = None  # a TopicMessage or a MessageRecord
        self._shown_count = -1
        self._history: list[TopicMessage] = []
        self._follow_latest = True

        self.topic_edit = QLineEdit(objectName="detailsTopic")
        self.topic_edit.setReadOnly(True)  # read-only but selectable: the topic can be copied
        self.qos_label = _plain_label("detailsQos")
        self.retain_label = _plain_label("detailsRetain")
        self.time_label = _plain_label("detailsTime")
        self.size_label = _plain_label("detailsSize")
        self.truncated_label = _plain_label("detailsTruncated")
        self.truncated_label.setStyleSheet(status_style("error"))
        self.properties_label = _plain_label("detailsProperties")
        self.properties_label.setWordWrap(True)
        self.decoder_combo = QComboBox(objectName="detailsDecoder")
        for name in DECODERS:
            self.decoder_combo.addItem(DECODER_LABELS[name], name)
        self.decoder_note = _plain_label("detailsDecoderNote")
        self.payload_edit = QPlainTextEdit(objectName="detailsPayload")
        self.payload_edit.setReadOnly(True)
        self.payload_edit.setLineWrapMode(QPlainTextEdit.NoWrap)

        self.history_list = QListWidget(objectName="detailsHistory")
        self.plot = pg.PlotWidget(objectName="detailsPlot")
        self.plot.setLabel("bottom", "seconds")
        self.plot_curve = self.plot.plot([], [], pen=pg.mkPen(width=2), symbol="o", symbolSize=4)
        self.plot_field = QComboBox(objectName="detailsPlotField")
        self.plot_note = _plain_label("detailsPlotNote")
        self.diff_edit = QPlainTextEdit(objectName="detailsDiff")
        self.diff_edit.setReadOnly(True)
        self.diff_edit.setLineWrapMode(QPlainTextEdit.NoWrap)

        form = QFormLayout()
        form.addRow("Topic", self.topic_edit)
        meta = QHBoxLayout()
        for label in (self.qos_label, self.retain_label, self.size_label, self.truncated_label):
            meta.addWidget(label)
        meta.addStretch(1)
        form.addRow("Message", meta)
        form.addRow("Time", self.time_label)
        form.addRow("Properties", self.properties_label)
        decoder_row = QHBoxLayout()
        decoder_row.addWidget(self.decoder_combo)
        decoder_row.addWidget(self.decoder_note, 1)
        form.addRow("Decode as", decoder_row)

        plot_page = QWidget()
        plot_layout = QVBoxLayout(plot_page)
        plot_top = QHBoxLayout()
        plot_top.addWidget(QLabel("Value"))
        plot_top.addWidget(self.plot_field, 1)
        plot_layout.addLayout(plot_top)
        plot_layout.addWidget(self.plot, 1)
        plot_layout.addWidget(self.plot_note)
        self.tabs = QTabWidget(objectName="detailsTabs")
        self.tabs.addTab(self.history_list, "History")
        self.tabs.addTab(plot_page, "Plot")
        self.tabs.addTab(self.diff_edit, "Diff")

        # The payload and the history/plot/diff tabs share the height through a splitter the user drags.
        self.payload_edit.setMinimumHeight(40)
        self.plot.setMinimumHeight(40)
        self.tabs.setMinimumHeight(90)
        self.splitter = QSplitter(Qt.Vertical, objectName="detailsSplitter")
        self.splitter.addWidget(self.payload_edit)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(form)
        layout.addWidget(self.splitter, 1)

        self.decoder_combo.currentIndexChanged.connect(self._on_decoder_changed)
        self.history_list.currentRowChanged.connect(self._on_history_row_changed)
        self.plot_field.currentIndexChanged.connect(self._on_plot_field_changed)
        context.messageSelected.connect(self.show_record)
        context.topicSelected.connect(self.show_topic)
        self._refresh = QTimer(self)
        self._refresh.setInterval(REFRESH_MS)
        self._refresh.timeout.connect(self._on_refresh)
        self._refresh.start()

    # ----- what to show -------------------------------------------------------------------
    def show_record(self, record) -> None:
        """A message from any view (MessageRecord). Shows it alone, without topic history."""
        if self.node is not None and self.node.topic == record.topic:
            self._follow_latest = False
        else:
            self.node = None
            self._history = []
            self._shown_count = -1
            self.history_list.clear()
            self.diff_edit.setPlainText("")
            self.plot_curve.setData([], [])
            self.plot_field.clear()
        self._show_message(record.topic, record)

    def show_topic(self, node: TopicNode) -> None:
        """A topic from the tree: its last message, history, plot and diff; follows new messages."""
        changed = node is not self.node
        self.node = node
        self._follow_latest = True
        if changed:
            self._fill_plot_fields()
        self._refresh_topic(force=True)

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
            item = QListWidgetItem(f"{_time_text(message.received)}  {preview(message.payload, 100)}")
            self.history_list.addItem(item)
        if self._follow_latest or selected_row < 0:
            self.history_list.setCurrentRow(0)
        else:
            self.history_list.setCurrentRow(min(selected_row, self.history_list.count() - 1))
        self.history_list.blockSignals(False)
        if self._follow_latest and node.last is not None:
            self._show_message(node.topic, node.last)
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
    def _show_message(self, topic: str, message) -> None:
        self.message = message
        self.topic_edit.setText(topic)
        self.topic_edit.setCursorPosition(0)
        self.qos_label.setText(f"QoS {message.qos}")
        self.retain_label.setText("retained" if message.retain else "not retained")
        size = getattr(message, "original_size", len(message.payload))
        self.size_label.setText(f"{size} B")
        truncated = getattr(message, "truncated", False)
        self.truncated_label.setText(f"truncated: showing the first {len(message.payload)} of {size} B" if truncated else "")
        self.time_label.setText(_time_text(message.received, with_date=True))
        props = message.properties.as_dict()
        self.properties_label.setText(json.dumps(props, ensure_ascii=False) if props else "none")
        self._show_payload()

    def _show_payload(self) -> None:
        if self.message is None:
            return
        decoder = self.decoder_combo.currentData() or "auto"
        decoded = decode_payload(self.message.payload, decoder, self.message.properties.content_type)
        self.payload_edit.setPlainText(decoded.text)
        note = decoded.error or (f"auto: {DECODER_LABELS[decoded.decoder]}" if decoder == "auto" else "")
        self.decoder_note.setText(note)

    def _on_decoder_changed(self, _index: int) -> None:
        self._show_payload()

    def _show_diff(self, position: int) -> None:
        """Unified diff of history[position] against the message before it."""
        if position <= 0 or position >= len(self._history):
            self.diff_edit.setPlainText("(no previous message to compare with)")
            return
        old, new = _diff_text(self._history[position - 1]), _diff_text(self._history[position])
        lines = difflib.unified_diff(old.splitlines(), new.splitlines(), "previous", "selected", lineterm="")
        self.diff_edit.setPlainText("\n".join(lines) or "(identical to the previous message)")

    # ----- plot --------------------------------------------------------------------------------
    def _fill_plot_fields(self) -> None:
        self.plot_field.blockSignals(True)
        self.plot_field.clear()
        self.plot_field.addItem(PAYLOAD_FIELD, "")
        last = self.node.last if self.node is not None else None
        if last is not None:
            for path in numeric_fields(last.payload):
                self.plot_field.addItem(path, path)
        # For a JSON object with numbers, plotting its first number beats plotting nothing.
        if last is not None and numeric_value(last.payload) is None and self.plot_field.count() > 1:
            self.plot_field.setCurrentIndex(1)
        self.plot_field.blockSignals(False)

    def _on_plot_field_changed(self, _index: int) -> None:
        self._update_plot()

    def _update_plot(self) -> None:
        field = self.plot_field.currentData() or ""
        if not self._history:
            self.plot_curve.setData([], [])
            return
        start = self._history[0].received
        xs, ys = [], []
        for message in self._history:
            value = numeric_value(message.payload, field)
            if value is not None:
                xs.append(message.received - start)
                ys.append(value)
        self.plot_curve.setData(xs, ys)
        self.plot_note.setText(f"{len(ys)} numeric value{'s' if len(ys) != 1 else ''} of {len(self._history)}"
                               if ys else "No numeric values in this topic's history")

    @property
    def plotted_values(self) -> list[float]:
        _xs, ys = self.plot_curve.getData()
        return [] if ys is None else [float(y) for y in ys]


def _time_text(seconds: float, with_date: bool = False) -> str:
    moment = datetime.fromtimestamp(seconds)
    return moment.isoformat(sep=" ", timespec="milliseconds") if with_date else moment.strftime("%H:%M:%S.%f")[:-3]


def _diff_text(message: TopicMessage) -> str:
    return decode_payload(message.payload[:DIFF_TEXT_LIMIT], "auto", message.properties.content_type).text
