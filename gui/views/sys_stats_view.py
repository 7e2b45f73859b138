"""$SYS statistics of a Mosquitto-style broker: the headline numbers, and any of them plotted over time.

Opening it subscribes the broker to ``$SYS/#`` (a ``#`` subscription never delivers ``$``
topics); closing it unsubscribes, unless the user had subscribed to ``$SYS/#`` already. The
values are read from the broker's topic tree, where they arrive like any other message.
"""

from __future__ import annotations

import time

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from eventscope.core.decoding.decoders import numeric_value
from eventscope.core.payload_text import decode_utf8
from eventscope.gui.views.plot_style import ClockAxis, fit_values, follow_palette

SYS_FILTER = "$SYS/#"
REFRESH_MS = 1000
HISTORY_POINTS = 600  # ten minutes at one sample a second
HEADLINES = (  # (label, $SYS topic): Mosquitto's names; other brokers show what they publish under $SYS
    ("Version", "$SYS/broker/version"),
    ("Uptime", "$SYS/broker/uptime"),
    ("Clients connected", "$SYS/broker/clients/connected"),
    ("Subscriptions", "$SYS/broker/subscriptions/count"),
    ("Retained messages", "$SYS/broker/retained messages/count"),
    ("Messages received /min (1 min avg)", "$SYS/broker/load/messages/received/1min"),
    ("Messages sent /min (1 min avg)", "$SYS/broker/load/messages/sent/1min"),
    ("Bytes received /min (1 min avg)", "$SYS/broker/load/bytes/received/1min"),
    ("Bytes sent /min (1 min avg)", "$SYS/broker/load/bytes/sent/1min"),
    ("Heap (bytes)", "$SYS/broker/heap/current"),
)


class SysStatsView(QDialog):
    def __init__(self, context, broker_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sysStatsView")
        self.setWindowTitle(f"$SYS statistics of {broker_id}")
        self.resize(720, 520)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # each opening is a new dialog: nothing hidden left behind
        self.context = context
        self.broker_id = broker_id
        self._samples: dict[str, list[tuple[float, float]]] = {}
        self.table = QTableWidget(len(HEADLINES), 2, objectName="sysStatsTable")
        self.table.setHorizontalHeaderLabels(["Statistic", "Value"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        for row, (label, topic) in enumerate(HEADLINES):
            item = QTableWidgetItem(label)
            item.setToolTip(topic)
            self.table.setItem(row, 0, item)
            self.table.setItem(row, 1, QTableWidgetItem("waiting…"))
        self.plot = pg.PlotWidget(objectName="sysStatsPlot", axisItems={"bottom": ClockAxis()})
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setMinimumHeight(90)
        self.curve = self.plot.plot([], [], pen=pg.mkPen(follow_palette(self.plot), width=2))
        self.note = QLabel("", objectName="sysStatsNote")
        self.note.setTextFormat(Qt.TextFormat.PlainText)
        self.note.setWordWrap(True)
        # Every statistic in view first; the plot takes what is left.
        self.table.setMinimumHeight(self.table.horizontalHeader().sizeHint().height()
                                    + sum(self.table.rowHeight(r) for r in range(self.table.rowCount())) + 4)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.plot)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(splitter, 1)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_plot())
        # Held whether or not the broker is connected now: holds outlive disconnects, so the next
        # connection subscribes again and the numbers carry on.
        context.hold_subscription(broker_id, SYS_FILTER)  # the user's own $SYS/# stays theirs
        self._held = True
        self._connected: bool | None = None
        self._show_connection()
        self.table.selectRow(5)  # messages received: the one people watch
        self._timer = QTimer(self, interval=REFRESH_MS, timeout=self.refresh)
        self._timer.start()

    def _session(self):
        connection = self.context.workspace.broker(self.broker_id)
        return connection.session if connection is not None else None

    def value(self, topic: str) -> str | None:
        node = self.context.workspace.tree.node(topic, self.broker_id)
        if node is None or node.last is None:
            return None
        text = decode_utf8(node.last.payload)
        return text if text is not None else node.last.payload.hex()

    def _show_connection(self) -> None:
        session = self._session()
        connected = session is not None and session.is_connected
        if connected == self._connected:
            return
        self._connected = connected
        if connected:
            self.note.setText(f"Subscribed to {SYS_FILTER} on {self.broker_id}. Mosquitto publishes every "
                              "sys_interval seconds (10 by default). Select a row to plot it.")
        else:
            self.note.setText(f"{self.broker_id} is not connected: the values below are the last ones seen. "
                              f"{SYS_FILTER} is subscribed again when it connects.")

    def refresh(self) -> None:
        self._show_connection()
        now = time.time()
        for row, (_label, topic) in enumerate(HEADLINES):
            text = self.value(topic)
            if text is None:
                continue
            item = self.table.item(row, 1)  # set up for every headline row
            if item is not None and item.text() != text:
                item.setText(text)
            number = numeric_value(text.encode()) if self._connected else None  # no flat line through an outage
            if number is not None:
                samples = self._samples.setdefault(topic, [])
                samples.append((now, number))
                del samples[:-HISTORY_POINTS]
        self._update_plot()

    def plotted(self) -> list[tuple[float, float]]:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return []
        return list(self._samples.get(HEADLINES[rows[0].row()][1], ()))

    def _update_plot(self) -> None:
        samples = self.plotted()
        values = [v for _, v in samples]
        self.curve.setData([t for t, _ in samples], values)
        rows = self.table.selectionModel().selectedRows()
        self.plot.setTitle(HEADLINES[rows[0].row()][0] if rows else "")  # the name says the unit
        fit_values(self.plot, values)

    def done(self, result: int) -> None:
        self._timer.stop()
        if self._held:
            self._held = False
            self.context.release_subscription(self.broker_id, SYS_FILTER)
        super().done(result)
