"""Tools → Mesh latency: request/reply between every pair of the open brokers, as a heat map and over time.

The run is the CLI's ``bench mesh`` (``core/bench/mesh.py``), started through the context on
clients of its own in a child process; this view only polls its snapshot a few times a second and
draws it. Read-only
brokers are left out (the run publishes requests and replies on every broker it measures).
"""

from __future__ import annotations

import math
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from eventscope.core.bench import mesh_report
from eventscope.core.bench.mesh import DEFAULT_RATE, MeshPhase, MeshPlan, MeshRefused, MeshSnapshot
from eventscope.core.bench.mesh_pair import SERIES_BUCKET_SECONDS, PairResult
from eventscope.core.bench.mesh_process import MeshRunProcess
from eventscope.core.bench.mesh_topics import DEFAULT_TOPIC_PREFIX
from eventscope.gui.status_colours import contrast, is_dark, status_style
from eventscope.gui.views.plot_style import follow_palette

POLL_MS = 250  # how often the run's snapshot is read while it runs
DEFAULT_SECONDS = 10.0
GREEN_HUE, RED_HUE = 120.0, 0.0
HOP_COLUMNS = ("Hop", "p50 ms", "p99 ms", "Samples")
MIN_PLOTTED_MS = 0.001


def heat_colours(p99: float, low: float, high: float, dark: bool) -> tuple[QColor, QColor]:
    """Background and text for a cell: green at the matrix's lowest p99, red at its highest (log scale,
    since RTTs across a mesh span orders of magnitude); the text is black or white, whichever reads better."""
    share = 0.0
    if high > low > 0 and p99 > 0:
        share = min(1.0, max(0.0, (math.log(p99) - math.log(low)) / (math.log(high) - math.log(low))))
    hue = (GREEN_HUE + (RED_HUE - GREEN_HUE) * share) / 360.0
    background = QColor.fromHsvF(hue, 0.65, 0.42) if dark else QColor.fromHsvF(hue, 0.38, 1.0)
    black, white = QColor("black"), QColor("white")
    text = black if contrast(black, background) >= contrast(white, background) else white
    return background, text


def curve_colour(index: int, count: int, dark: bool) -> QColor:
    """The ``index``-th of ``count`` hues around the wheel: deep on a light plot, pale on a dark one."""
    hue = (index / max(count, 1)) % 1.0
    return QColor.fromHsvF(hue, 0.55, 1.0) if dark else QColor.fromHsvF(hue, 0.95, 0.72)


class MillisecondsLogAxis(pg.AxisItem):
    """RTTs on a log scale, labelled in plain milliseconds at 1, 2 and 5 of each decade (not 2·10¹ at every tick)."""

    def logTickStrings(self, values, scale, spacing) -> list[str]:  # noqa: N802 (pyqtgraph's name)
        labels = []
        for value in values:
            ms = 10 ** float(value) * scale
            labels.append(f"{ms:.3g}" if f"{ms:.1e}"[0] in "125" and f"{ms:.1e}"[2] == "0" else "")
        return labels


def _plain(name: str) -> QLabel:
    label = QLabel("", objectName=name)
    label.setTextFormat(Qt.TextFormat.PlainText)  # broker names are user data: never markup
    label.setWordWrap(True)
    return label


class MeshLatencyDialog(QDialog):
    def __init__(self, context, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("meshLatencyDialog")
        self.setWindowTitle("Mesh latency")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # closing ends the run; a new opening starts afresh
        self.resize(960, 660)
        self.context = context
        self.run: MeshRunProcess | None = None
        self.snapshot: MeshSnapshot | None = None
        self._earlier: dict[tuple[str, str], tuple[float | None, float | None]] | None = None
        self._compared_with = ""
        self.curves: dict[tuple[str, str], pg.PlotDataItem] = {}  # each pair's RTT over time

        self.brokers_label = _plain("meshBrokers")
        self.left_out_label = _plain("meshLeftOut")
        self.left_out_label.setStyleSheet(status_style("warn"))
        self.rate_spin = QSpinBox(objectName="meshRate", minimum=1, maximum=10_000, value=int(DEFAULT_RATE),
                                  suffix=" req/s")
        self.rate_spin.setToolTip("Requests per second of each pair; all pairs run at once")
        self.seconds_spin = QDoubleSpinBox(objectName="meshSeconds", minimum=0.5, maximum=3600.0, decimals=1,
                                           value=DEFAULT_SECONDS, suffix=" s")
        self.seconds_spin.setToolTip("How long the pairs run")
        self.prefix_edit = QLineEdit(DEFAULT_TOPIC_PREFIX, objectName="meshTopicPrefix")
        self.prefix_edit.setToolTip("Each broker's namespace for the run: {region} is the broker's region (else its "
                                    "name), {run} a new id each run. The mesh's bridges must carry it: the default "
                                    "sits under REGION/hello/, which bridges of +/hello/# do.")
        self.start_button = QPushButton("Start", objectName="meshStart")
        self.stop_button = QPushButton("Stop", objectName="meshStop", enabled=False)
        self.stop_button.setToolTip("End the run now: the repliers unsubscribe and every connection of the run closes")
        self.save_button = QPushButton("Save results…", objectName="meshSave", enabled=False)
        self.compare_button = QPushButton("Compare with saved…", objectName="meshCompare")
        self.compare_button.setToolTip("Show each pair's change in p50 and p99 since a saved run (Save results, or "
                                       "eventscope bench mesh --save)")
        self.progress = QProgressBar(objectName="meshProgress", maximum=1000, textVisible=False)
        self.status_label = _plain("meshStatus")

        self.matrix_caption = _plain("meshMatrixCaption")
        self.matrix_caption.setText("RTT p50 / p99 and requests lost. Row: sent on; column: answered on; "
                                    "colour: p99, green lowest, red highest")
        self.matrix = QTableWidget(objectName="meshMatrix")
        self.matrix.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.matrix.setWordWrap(False)
        self.matrix.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.matrix.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)  # the heat map fills its box
        self.matrix.setSizeAdjustPolicy(QAbstractItemView.SizeAdjustPolicy.AdjustIgnored)
        self.hops = QTableWidget(0, len(HOP_COLUMNS), objectName="meshHops")
        self.hops.setHorizontalHeaderLabels(list(HOP_COLUMNS))
        self.hops.setToolTip("One-way latency from one broker to another: the same request's arrival on each")
        self.hops.verticalHeader().hide()
        self.hops.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.hops.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(HOP_COLUMNS)):
            self.hops.horizontalHeader().setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)

        self.plot = pg.PlotWidget(objectName="meshPlot", axisItems={"left": MillisecondsLogAxis("left")})
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setLabel("bottom", "seconds since the start")
        self.plot.setLabel("left", f"RTT, median per {SERIES_BUCKET_SECONDS:g} s (ms)")
        self.plot.setLogMode(y=True)  # a mesh's RTTs span orders of magnitude: a 40 ms stall must not flatten 1 ms
        self.plot.addLegend(offset=(-8, 8), colCount=3)
        self.plot.setMinimumHeight(150)
        follow_palette(self.plot)

        settings = QHBoxLayout()
        for text, field in (("&Rate per pair", self.rate_spin), ("&Duration", self.seconds_spin),
                            ("Topic &prefix", self.prefix_edit)):
            label = QLabel(text)
            label.setBuddy(field)
            settings.addWidget(label)
            settings.addWidget(field, 1 if field is self.prefix_edit else 0)
        buttons = QHBoxLayout()
        for button in (self.start_button, self.stop_button, self.save_button, self.compare_button):
            buttons.addWidget(button)
        buttons.addWidget(self.progress, 1)
        matrix_box = QWidget()
        matrix_layout = QVBoxLayout(matrix_box)
        matrix_layout.setContentsMargins(0, 0, 0, 0)
        matrix_layout.addWidget(self.matrix_caption)
        matrix_layout.addWidget(self.matrix, 1)
        tables = QSplitter(Qt.Orientation.Horizontal, objectName="meshTablesSplitter")
        tables.addWidget(matrix_box)
        tables.addWidget(self.hops)
        tables.setStretchFactor(0, 3)
        tables.setStretchFactor(1, 2)
        tables.setChildrenCollapsible(False)
        splitter = QSplitter(Qt.Orientation.Vertical, objectName="meshSplitter")
        splitter.addWidget(tables)
        splitter.addWidget(self.plot)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([300, 260])
        layout = QVBoxLayout(self)
        layout.addWidget(self.brokers_label)
        layout.addWidget(self.left_out_label)
        layout.addLayout(settings)
        layout.addLayout(buttons)
        layout.addWidget(self.status_label)
        layout.addWidget(splitter, 1)

        self._poll = QTimer(self, interval=POLL_MS, timeout=self._on_poll)
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.save_button.clicked.connect(self._on_save_clicked)
        self.compare_button.clicked.connect(self._on_compare_clicked)
        context.brokersChanged.connect(self._show_brokers)
        if parent is not None:
            parent.installEventFilter(self)  # the window closing ends the run too (its dialogs are not closed)
        self._show_brokers()

    # ----- the brokers ------------------------------------------------------------------------------
    def brokers(self) -> tuple[list[str], list[str]]:
        """The open brokers the run can measure, and why each other one is left out."""
        usable, left_out = [], []
        for entry in self.context.entries():
            if not self.context.is_open(entry.broker_id):
                left_out.append(f"{entry.broker_id}: not connected, left out")
            elif entry.profile.read_only:
                left_out.append(f"{entry.broker_id}: read-only (monitor mode), left out: the run would publish "
                                "requests and replies there")
            else:
                usable.append(entry.broker_id)
        return usable, left_out

    def _show_brokers(self) -> None:
        usable, left_out = self.brokers()
        if usable:
            self.brokers_label.setText(
                f"Request/reply between every pair of {', '.join(usable)}, all pairs at once: each broker gets a "
                "replier for this run's own topics, removed when it ends.")
        else:
            self.brokers_label.setText("No open broker can take part: add one (Ctrl+Shift+N), or connect one "
                                       "that is not read-only.")
        self.left_out_label.setText("\n".join(left_out))
        self.left_out_label.setVisible(bool(left_out))
        self.start_button.setEnabled(bool(usable) and not self.running)

    @property
    def running(self) -> bool:
        return self.run is not None and not self.run.done

    # ----- running ----------------------------------------------------------------------------------
    def plan(self) -> MeshPlan:
        return MeshPlan(rate=float(self.rate_spin.value()), seconds=self.seconds_spin.value(),
                        topic_prefix=self.prefix_edit.text().strip())

    def start(self) -> MeshRunProcess | None:
        if self.running:
            return None
        usable, _ = self.brokers()
        try:
            run = self.context.start_mesh_run(usable, self.plan())
        except MeshRefused as exc:
            self._say("error", str(exc))
            return None
        self.run, self.snapshot = run, None
        names = [broker.name for broker in run.brokers]
        self._set_up_matrix(names)
        self._set_up_plot(list(run.pairs))
        self.hops.setRowCount(0)
        for widget in (self.start_button, self.save_button, self.rate_spin, self.seconds_spin, self.prefix_edit):
            widget.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.progress.setValue(0)
        self._say("busy", f"Connecting to {', '.join(names)}…")
        self._poll.start()
        return run

    def stop(self) -> None:
        """End the run now (the run cleans up on its own thread; the next poll shows it)."""
        if self.running and self.run is not None:
            self.run.stop()
            self.stop_button.setEnabled(False)
            self._say("busy", "Stopping: removing the repliers…")

    def _on_poll(self) -> None:
        if self.run is None:
            return
        snapshot = self.run.snapshot()
        self.show_snapshot(snapshot)
        if snapshot.done:
            self._poll.stop()
            self.stop_button.setEnabled(False)
            for widget in (self.rate_spin, self.seconds_spin, self.prefix_edit):
                widget.setEnabled(True)
            self.save_button.setEnabled(bool(snapshot.pairs))
            self._show_brokers()

    # ----- drawing ----------------------------------------------------------------------------------
    def _set_up_matrix(self, names: list[str]) -> None:
        self.matrix.clear()
        self.matrix.setRowCount(len(names))
        self.matrix.setColumnCount(len(names))
        self.matrix.setHorizontalHeaderLabels(names)
        self.matrix.setVerticalHeaderLabels(names)
        for row in range(len(names)):
            for column in range(len(names)):
                item = QTableWidgetItem("…")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.matrix.setItem(row, column, item)
        # Stretched rows fill the box; each keeps room for a cell's three lines.
        self.matrix.verticalHeader().setMinimumSectionSize(self.matrix.fontMetrics().lineSpacing() * 3 + 6)

    def _set_up_plot(self, pairs: list[tuple[str, str]]) -> None:
        item = self.plot.getPlotItem()
        if item is not None and item.legend is not None:
            item.legend.clear()
        self.plot.clear()
        self.curves = {}
        dark = is_dark(self.palette())
        for index, (sender, answerer) in enumerate(pairs):
            colour = curve_colour(index, len(pairs), dark)
            style = Qt.PenStyle.DashLine if sender == answerer else Qt.PenStyle.SolidLine
            self.curves[(sender, answerer)] = self.plot.plot(
                [], [], name=f"{sender} → {answerer}", pen=pg.mkPen(colour, width=2, style=style))
        follow_palette(self.plot)

    def cell_text(self, row: int, column: int) -> str:
        item = self.matrix.item(row, column)
        return item.text() if item is not None else ""

    def show_snapshot(self, snapshot: MeshSnapshot) -> None:
        self.snapshot = snapshot
        changes = mesh_report.compare(snapshot, self._earlier) if self._earlier is not None else None
        measured = [p.rtt.p99 for p in snapshot.pairs if p.rtt.p99]
        low, high = (min(measured), max(measured)) if measured else (0.0, 0.0)
        dark = is_dark(self.palette())
        names = list(snapshot.brokers)
        for pair in snapshot.pairs:
            item = self.matrix.item(names.index(pair.sender), names.index(pair.answerer))
            if item is None:
                continue
            change = changes.get((pair.sender, pair.answerer)) if changes is not None else None
            item.setText(self._cell(pair, change, changes is not None))
            item.setToolTip(self._cell_details(pair))
            if pair.rtt.p99 is not None:
                background, text = heat_colours(pair.rtt.p99, low, high, dark)
                item.setBackground(background)
                item.setForeground(text)
            curve = self.curves.get((pair.sender, pair.answerer))
            if curve is not None and pair.series:  # a log axis: a median of 0 (below the clock's tick) sits at 1 µs
                curve.setData([t for t, _ in pair.series], [max(ms, MIN_PLOTTED_MS) for _, ms in pair.series])
        self._show_hops(snapshot)
        self._show_state(snapshot)

    @staticmethod
    def _cell(pair: PairResult, change: mesh_report.Change | None, comparing: bool) -> str:
        if not pair.sent and not pair.samples:
            return "…"
        lines = [f"{mesh_report.rtt_text(pair)} ms", mesh_report.lost_text(pair)]
        if comparing:
            lines.append("not in the saved run" if change is None else
                         f"Δ {mesh_report.signed_ms(change.p50)} / {mesh_report.signed_ms(change.p99)}")
        return "\n".join(lines)

    @staticmethod
    def _cell_details(pair: PairResult) -> str:
        rtt = pair.rtt
        return (f"{pair.sender} → {pair.answerer}\n"
                f"RTT p50 {mesh_report.ms(rtt.p50)}, p90 {mesh_report.ms(rtt.p90)}, p99 {mesh_report.ms(rtt.p99)}, "
                f"max {mesh_report.ms(rtt.max)} ms\n"
                f"{pair.sent:,} sent (answered or lost), {pair.replies:,} replies, {pair.timeouts:,} timeouts, "
                f"{pair.failed:,} failed, {pair.in_flight:,} in flight"
                + (f"\n{pair.first_error}" if pair.first_error else ""))

    def _show_hops(self, snapshot: MeshSnapshot) -> None:
        self.hops.setRowCount(len(snapshot.hops))
        for row, hop in enumerate(snapshot.hops):
            latency = hop.latency
            cells = (f"{hop.sender} → {hop.receiver}", mesh_report.ms(latency.p50), mesh_report.ms(latency.p99),
                     f"{hop.samples:,}")
            for column, text in enumerate(cells):
                item = self.hops.item(row, column)
                if item is None:
                    item = QTableWidgetItem()
                    if column:
                        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    self.hops.setItem(row, column, item)
                item.setText(text)

    def _show_state(self, snapshot: MeshSnapshot) -> None:
        progress = snapshot.progress
        self.progress.setValue(int(1000 * progress) if progress is not None else 0)
        compared = f"; compared with {self._compared_with}" if self._earlier is not None else ""
        if snapshot.phase is MeshPhase.CONNECTING:
            self._say("busy", f"Connecting to {', '.join(snapshot.brokers)} and starting the repliers…")
        elif snapshot.phase is MeshPhase.RUNNING:
            self._say("busy", f"Running: {snapshot.elapsed:.1f} s, {sum(p.sent for p in snapshot.pairs):,} requests "
                              f"answered or lost{compared}")
        elif snapshot.phase is MeshPhase.CLEANING_UP:
            self._say("busy", "Removing the repliers…")
        elif snapshot.phase is MeshPhase.FAILED:
            self._say("error", f"The run failed: {snapshot.error}")
        else:
            lost = sum(p.lost for p in snapshot.pairs)
            ended = "Stopped" if snapshot.phase is MeshPhase.STOPPED else "Finished"
            removed = ("the repliers are removed" if snapshot.cleaned_up else
                       "a broker did not confirm the repliers' removal (they went with the connection)")
            self._say("warn" if lost else "ok", f"{ended} after {snapshot.elapsed:.1f} s: {lost:,} requests lost; "
                                                f"{removed}{compared}")

    def _say(self, kind: str, text: str) -> None:
        self.status_label.setStyleSheet(status_style(kind))
        self.status_label.setText(text)

    # ----- saving and comparing -----------------------------------------------------------------------
    def _on_save_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the mesh results", "mesh-latency.json", "JSON (*.json)")
        if path:
            self.save_results(path)

    def save_results(self, path: str | Path) -> bool:
        """Write the last run's results as ``eventscope bench mesh --format json`` prints them."""
        if self.snapshot is None or not self.snapshot.pairs:
            return False
        try:
            mesh_report.save(self.snapshot, path)
        except OSError as exc:
            self._say("error", f"Cannot write {path}: {exc.strerror or exc}")
            return False
        self._say("ok", f"Saved to {path}")
        return True

    def _on_compare_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Compare with a saved mesh run", "", "JSON (*.json)")
        if path:
            self.compare_with(path)

    def compare_with(self, path: str | Path) -> bool:
        """Show each pair's change in p50 and p99 since the run saved in ``path`` (now and in later runs)."""
        try:
            self._earlier = mesh_report.load_rtts(path)
        except mesh_report.MeshResultsError as exc:
            self._say("error", str(exc))
            return False
        self._compared_with = Path(path).name
        if self.snapshot is not None:
            self.show_snapshot(self.snapshot)
        else:
            self._say("ok", f"The next run is compared with {self._compared_with}")
        return True

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if watched is self.parent() and event.type() == QEvent.Type.Close and self.run is not None:
            self.run.stop()
        return super().eventFilter(watched, event)

    def done(self, result: int) -> None:
        self._poll.stop()
        if self.run is not None:
            self.run.stop()  # closing ends the run; its clean-up goes on without the dialog
        super().done(result)
