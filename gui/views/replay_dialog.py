"""Replay… from the audit feed: send the selected rows (or the current search) again to a broker, and
compare today's replies with the recorded ones.

Planning reads the audit on the feed's reader thread, and the replay runs on a thread of its own:
the dialog only polls its results ten times a second and appends them in one range per poll.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from eventscope.core.audit.feed import FeedReader
from eventscope.core.audit.store import AuditQuery
from eventscope.core.replay.engine import Replayer, ReplayItem, ReplayResult, ReplayRun, ReplyWatcher, plan
from eventscope.core.replay.rewrite import RewriteRules
from eventscope.gui.futures import FutureWatcher
from eventscope.gui.status_colours import status_style

POLL_MS = 100
PREVIEW_TOPICS = 3
REPLY_WAIT = 5.0  # seconds each request waits for its reply when comparing
COLUMNS = ("Topic", "Outcome", "RTT then (ms)", "RTT now (ms)", "Diff")


class ReplayResultsModel(QAbstractTableModel):
    """The replay's results; rows only ever appended, in one range per poll."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.results: list[ReplayResult] = []

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.results)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        result = self.results[index.row()]
        column = index.column()
        if column == 0:
            return result.item.topic
        if column == 1:
            return result.outcome + (f" ({result.error})" if result.error else "")
        if column == 2:
            return "" if result.item.rtt_then_ms is None else f"{result.item.rtt_then_ms:.1f}"
        if column == 3:
            return "" if result.rtt_now_ms is None else f"{result.rtt_now_ms:.1f}"
        return result.diff.text() if result.diff is not None and not result.diff.same else ""

    def extend(self, results: list[ReplayResult]) -> None:
        if results:
            first = len(self.results)
            self.beginInsertRows(QModelIndex(), first, first + len(results) - 1)
            self.results.extend(results)
            self.endInsertRows()


class ReplayDialog(QDialog):
    """Target broker, speed, rewrite rules (with a live preview), compare, count; then progress and results."""

    def __init__(self, context, reader: FeedReader, query: AuditQuery, selected: list[int],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("replayDialog")
        self.setWindowTitle("Replay")
        self.setMinimumWidth(640)
        self.resize(820, 680)
        self.context, self.reader, self.query, self.selected = context, reader, query, selected
        self.items: list[ReplayItem] = []
        self.replay_id = ""
        self.run: ReplayRun | None = None
        self._watcher = FutureWatcher(self)
        self._reply_watcher: ReplyWatcher | None = None
        self._holds: list[tuple[str, str]] = []
        self._shown = 0

        self.target_combo = QComboBox(objectName="replayTarget")
        self.speed_combo = QComboBox(objectName="replaySpeed", editable=True)
        self.speed_combo.addItems(["1", "0.5", "10", "max"])
        self.speed_combo.setToolTip("The recorded timing times this factor, or max: as fast as possible")
        self.rewrite_edit = QPlainTextEdit(objectName="replayRewrite")
        self.rewrite_edit.setPlaceholderText("FROM=TO topic prefix rules, one a line (the first match wins), "
                                             "e.g. us-east/=staging-us-east/")
        self.rewrite_edit.setFixedHeight(60)
        self.preview_label = _plain("replayPreview")
        self.compare_check = QCheckBox("Compare replies with the recorded ones", objectName="replayCompare")
        self.count_label = _plain("replayCount")
        self.start_button = QPushButton("Start", objectName="replayStart")
        self.cancel_button = QPushButton("Cancel", objectName="replayCancel", enabled=False)
        self.export_button = QPushButton("Export JSONL…", objectName="replayExport", enabled=False)
        self.progress = QProgressBar(objectName="replayProgress")
        self.summary_label = _plain("replaySummary")
        self.model = ReplayResultsModel(self)
        self.table = QTableView(objectName="replayResults")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().hide()
        self.table.setColumnWidth(0, 220)
        self.table.setWordWrap(False)
        self.table.setMinimumHeight(160)  # the results are the point: never squeezed to a row
        self.diff_label = _plain("replayDiff")

        form = QFormLayout()
        form.addRow("Send to", self.target_combo)
        form.addRow("Speed", self.speed_combo)
        form.addRow("Rewrite", self.rewrite_edit)
        form.addRow("", self.preview_label)
        form.addRow("", self.compare_check)
        form.addRow("Rows", self.count_label)
        buttons = QHBoxLayout()
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.diff_label)

        self._plan_timer = QTimer(self, singleShot=True, interval=300, timeout=self._plan)
        self._poll = QTimer(self, interval=POLL_MS, timeout=self._on_poll)
        self.rewrite_edit.textChanged.connect(self._plan_timer.start)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.export_button.clicked.connect(self._on_export_clicked)
        self.table.selectionModel().currentRowChanged.connect(self._on_row_changed)
        self._fill_targets()
        self._plan()

    # ----- choosing -----
    def _fill_targets(self) -> None:
        open_ones = [c for c in self.context.connections() if not c.profile.read_only]
        for connection in open_ones:
            self.target_combo.addItem(connection.broker_id)
        if not open_ones:
            self._say("error", "No open broker can publish (read-only brokers never do): connect one first")

    def rules(self) -> RewriteRules:
        return RewriteRules.parse([line.strip() for line in self.rewrite_edit.toPlainText().splitlines() if line.strip()])

    def _plan(self) -> None:
        try:
            rules = self.rules()
        except ValueError as exc:
            self.preview_label.setText(str(exc))
            self.start_button.setEnabled(False)
            return
        ids = self.selected or None
        future = self.reader.read(lambda store: plan(store, self.query, rules=rules, ids=ids))
        self.count_label.setText("Reading the audit…")
        self.start_button.setEnabled(False)
        self._watcher.watch(future, self._on_planned)

    def _on_planned(self, future: Future) -> None:
        if future.exception() is not None:
            self.preview_label.setText(f"Cannot replay: {future.exception()}")
            return
        self.replay_id, self.items = future.result()
        what = f"{len(self.selected)} selected rows" if self.selected else "the rows of the current search"
        self.count_label.setText(f"{len(self.items)} messages from {what}" if self.items else
                                 "Nothing to replay: no row matches (replays of replays are left out)")
        preview = [f"{i.original_topic} → {i.topic}" for i in self.items[:PREVIEW_TOPICS]]
        self.preview_label.setText("\n".join(preview))
        self.start_button.setEnabled(bool(self.items) and self.target_combo.count() > 0 and self.run is None)

    # ----- running -----
    def speed(self) -> float | None:
        text = self.speed_combo.currentText().strip()
        if text == "max":
            return None
        value = float(text)
        if not value > 0:
            raise ValueError
        return value

    def start(self) -> ReplayRun | None:
        if self.run is not None or not self.items or self.target_combo.count() == 0:
            return None
        try:
            speed = self.speed()
        except ValueError:
            self._say("error", "Speed takes a positive factor (0.5, 1, 10) or max")
            return None
        target = self.target_combo.currentText()
        self._reply_watcher = ReplyWatcher() if self.compare_check.isChecked() else None
        try:
            # Its own connection in a process of its own where it can (plain or TLS): the broker's connection in the
            # window's connection process then carries none of the sends (through it, ~3k msg/s at most).
            wire = self.context.replay_sender(target, self.replay_id)
        except (PermissionError, ValueError) as exc:
            self._say("error", f"Cannot replay: {exc}")
            return None
        replayer = Replayer(lambda topic, payload, qos, retain, props: self.context.publish(
            target, topic, payload, qos, retain, props), self.items, speed, False, self._reply_watcher, REPLY_WAIT,
            publish_many=lambda messages: self.context.publish_many(target, messages), wire=wire)
        before: Callable[[], None] | None = None
        if self._reply_watcher is not None:
            workspace = self.context.workspace
            workspace.add_tap(self._reply_watcher.on_message)
            topics = {i.properties.response_topic for i in self.items if i.expects_reply}
            # Replies may come back on any open broker: every one holds the reply topics while this runs.
            self._holds = [(c.broker_id, t) for c in self.context.connections() for t in topics if t]
            subacks = [workspace.subscriptions.hold(b, t) for b, t in self._holds]

            def wait_for_subscriptions() -> None:  # on the replay's thread: the window never waits for SUBACKs
                for suback in subacks:
                    suback.result(10)

            before = wait_for_subscriptions
        self.run = replayer.start(self.replay_id, before)
        self.progress.setRange(0, len(self.items))
        self.progress.setValue(0)
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._say("busy", f"Replaying {len(self.items)} messages to {target}…")
        self._watcher.watch(self.run.future, self._on_finished)
        self._poll.start()
        return self.run

    def cancel(self) -> None:
        if self.run is not None:
            self.run.cancel()
            self._say("busy", "Stopping…")

    def _on_poll(self) -> None:
        if self.run is None:
            return
        results = self.run.results
        count = len(results)
        if count > self._shown:
            self.model.extend(results[self._shown:count])
            self._shown = count
            self.progress.setValue(min(count, self.progress.maximum()))

    def _on_finished(self, future: Future) -> None:
        self._on_poll()
        self._poll.stop()
        self.cancel_button.setEnabled(False)
        self._release()
        if future.exception() is not None:
            self._say("error", f"The replay stopped: {future.exception()}")
            return
        run = self.run
        self._say("error" if run is not None and run.exit_code else "ok", run.text if run is not None else "")
        self.export_button.setEnabled(bool(self.model.results))

    def _release(self) -> None:
        if self._reply_watcher is not None:
            self.context.workspace.remove_tap(self._reply_watcher.on_message)
        for broker_id, topic in self._holds:
            self.context.workspace.subscriptions.release(broker_id, topic)
        self._holds = []

    # ----- results -----
    def _on_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            result = self.model.results[current.row()]
            self.diff_label.setText(result.diff.text() if result.diff is not None else result.outcome)

    def _on_export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export replay results", "replay.jsonl", "JSON lines (*.jsonl)")
        if path:
            self.export_to(path)

    def export_to(self, path: str | Path) -> int:
        lines = [json.dumps(r.as_json(), ensure_ascii=False) for r in self.model.results]
        Path(path).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return len(lines)

    def _say(self, kind: str, text: str) -> None:
        self.summary_label.setStyleSheet(status_style(kind))
        self.summary_label.setText(text)

    def done(self, result: int) -> None:
        if self.run is not None and not self.run.future.done():
            self.run.cancel()  # closing the dialog stops the replay …
            self._release()  # … and lets go of the reply topics (its end is no longer shown)
        super().done(result)


def _plain(name: str) -> QLabel:
    label = QLabel("", objectName=name)
    label.setTextFormat(Qt.TextFormat.PlainText)  # topics and payloads are user data: never markup
    label.setWordWrap(True)
    return label
