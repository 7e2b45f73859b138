"""Audit feed: the durable audit store as a searchable, exportable table.

The workspace records (its audit writer commits and acks on its own thread); this view only
shows what each change summary says was committed, and reads history pages through its own
read-only connection.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QItemSelection, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressDialog,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from eventscope.core.audit.export import ExportJob
from eventscope.core.audit.recorder import AuditRecorder
from eventscope.core.audit.store import AuditQuery, AuditStore, AuditStoreError
from eventscope.gui.context import AppContext
from eventscope.gui.models.audit_table_model import AuditTableModel
from eventscope.gui.views.elided_label import ElidedLabel

log = logging.getLogger(__name__)

SEARCH_DELAY_MS = 250
# time, broker, kind, region, topic, QoS, size, RTT, reply, path, dup
ORDER_KEY = "audit/newestLast"
COLUMN_WIDTHS = (90, 90, 60, 85, 220, 36, 50, 65, 220, 260, 40, 260)  # time of day; QoS, size and dup narrow


class AuditFeedView(QWidget):
    """The audit table, its search fields and export.

    ``db_path`` and ``filters`` say what the workspace records for every connection (default:
    one file per profile, the request/reply filters).

    Signals:
        exportFinished(str path, int rows, bool cancelled)
    """

    exportFinished = Signal(str, int, bool)

    def __init__(self, context: AppContext, db_path: str | Path | None = None,
                 filters: tuple[str, ...] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setObjectName("auditFeed")
        self.setAccessibleName("Audit feed")
        self.store: AuditStore | None = None  # this view's read-only connection
        self._notice = ""
        self._write_warning = ""
        self._export: tuple[ExportJob, QProgressDialog, object, str] | None = None
        self.model = AuditTableModel(None, self)

        self.topic_edit = QLineEdit(objectName="auditTopicSearch", placeholderText="Topic contains")
        self.region_edit = QLineEdit(objectName="auditRegionSearch", placeholderText="Region")
        self.kind_combo = QComboBox(objectName="auditKind")
        self.kind_combo.addItems(["any kind", "request", "reply", "other"])
        self.text_edit = QLineEdit(objectName="auditTextSearch", placeholderText="Payload contains")
        self.export_csv_button = QToolButton(objectName="auditExportCsv", text="Export CSV…")
        self.export_jsonl_button = QToolButton(objectName="auditExportJsonl", text="Export JSONL…")
        self.order_button = QToolButton(objectName="auditOrder", checkable=True)
        self.order_button.setToolTip("Newest at the bottom, following new rows as streams do, or newest at the top")
        self.warning_label = QLabel("", objectName="auditWarning")
        self.warning_label.setTextFormat(Qt.TextFormat.PlainText)
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet("background: #fff3cd; color: #6b4b00; padding: 4px")
        self.warning_label.hide()
        self.status_label = ElidedLabel(objectName="auditStatus")
        self.table = QTableView(objectName="auditTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setWordWrap(False)
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerItem)  # scroll values count rows
        for column, width in enumerate(COLUMN_WIDTHS):  # the correlation, last, takes the rest
            self.table.setColumnWidth(column, width)

        bar = QHBoxLayout()
        for widget in (self.topic_edit, self.region_edit, self.kind_combo, self.text_edit):
            bar.addWidget(widget)
        bar.addWidget(self.order_button)
        bar.addWidget(self.export_csv_button)
        bar.addWidget(self.export_jsonl_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.warning_label)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status_label)

        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS, timeout=self.apply_search)
        for edit in (self.topic_edit, self.region_edit, self.text_edit):
            edit.textChanged.connect(self._search_timer.start)
        self.kind_combo.currentIndexChanged.connect(self._search_timer.start)
        self.export_csv_button.clicked.connect(lambda: self._on_export_clicked("csv"))
        self.export_jsonl_button.clicked.connect(lambda: self._on_export_clicked("jsonl"))
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.order_button.toggled.connect(self.set_newest_last)
        self.table.verticalScrollBar().valueChanged.connect(self._on_scrolled)
        self.order_button.setChecked(context.settings.value(ORDER_KEY, False, type=bool))
        self._show_order()
        context.auditChanged.connect(self._on_audit_changed)
        context.bridge.summaryReady.connect(self._on_summary)
        if db_path is not None:
            self._open_store(Path(db_path))
        context.set_audit(db_path, filters)  # the workspace records; this view shows
        if context.connection is None:
            self._show_warning()

    @property
    def recorder(self) -> AuditRecorder | None:
        """The workspace's recorder for the current connection (None when another process records)."""
        connection = self.context.connection
        return connection.recorder if connection is not None else None

    # ----- store -----
    def _open_store(self, path: Path) -> bool:
        """Open (or keep) this view's read-only connection to ``path``."""
        if self.store is not None and self.store.path == path:
            return True
        self._close_store()
        try:
            self.store = AuditStore.open_reader(path, self.context.region_level)
        except AuditStoreError as exc:
            self._notice = str(exc)
            return False
        self.model.set_store(self.store)
        return True

    def _close_store(self) -> None:
        if self.store is not None:
            self.model.set_store(None)
            self.store.close()
            self.store = None

    def _on_audit_changed(self, connection) -> None:
        if connection is None:
            return
        self._notice = connection.audit_notice
        self._write_warning = ""
        if connection.audit_path is not None and self._open_store(connection.audit_path):
            if connection.recorder is not None:
                self.status_label.setText(f"Recording {', '.join(connection.recorder.filters)} into {connection.audit_path}")
            else:
                self.status_label.setText(f"Showing {connection.audit_path} (not recording)")
        self._show_warning()

    def _on_summary(self, summary) -> None:
        """Show what the writer committed: one insertion at the top, one refresh per answered request."""
        for delta in summary.audit:
            if self.store is None or delta.path != self.store.path:
                continue  # another database (set while another was shown)
            warning = delta.warning
            if warning and delta.pending:
                warning += f" ({delta.pending} messages waiting in memory)"
            if warning != self._write_warning:
                self._write_warning = warning
                self._show_warning()
            if delta.committed or delta.sightings:
                following = self.following()
                self.model.add_committed(delta.rows, delta.pairings, delta.complete, delta.sightings)
                if following:
                    self.model.trim()
                    self._scroll_to_newest()

    # ----- order -----
    def set_newest_last(self, newest_last: bool) -> None:
        self.model.set_newest_last(newest_last)
        self.context.settings.setValue(ORDER_KEY, newest_last)
        self._show_order()
        self._scroll_to_newest()

    def _show_order(self) -> None:
        self.order_button.setText("Newest at the bottom ↓" if self.model.newest_last else "Newest at the top ↑")

    def following(self) -> bool:
        """At the newest end, so new rows keep it in view."""
        bar = self.table.verticalScrollBar()
        return bar.value() >= bar.maximum() if self.model.newest_last else bar.value() == 0

    def _scroll_to_newest(self) -> None:
        if self.model.newest_last:
            self.table.scrollToBottom()
        else:
            self.table.scrollToTop()

    def _on_scrolled(self, value: int) -> None:
        """Newest at the bottom: Qt fetches more only at the bottom, so older pages load here at the top."""
        bar = self.table.verticalScrollBar()
        if self.model.newest_last and value == bar.minimum() and self.model.has_older():
            target = bar.value()
            added = self.model.fetch_older()
            if added:  # keep the row the user was looking at in place (the table scrolls by rows) …
                def keep_place(_minimum: int, _maximum: int) -> None:
                    bar.rangeChanged.disconnect(keep_place)
                    bar.setValue(target + added)
                bar.rangeChanged.connect(keep_place)  # … once the scroll bar knows about the new rows

    def _show_warning(self) -> None:
        text = "\n".join(t for t in (self._notice, self._write_warning) if t)
        self.warning_label.setText(text)
        self.warning_label.setVisible(bool(text))

    # ----- search -----
    def current_query(self) -> AuditQuery:
        kind = self.kind_combo.currentText()
        return AuditQuery(topic=self.topic_edit.text().strip(), region=self.region_edit.text().strip(),
                          kind="" if kind == "any kind" else kind, text=self.text_edit.text())

    def apply_search(self) -> None:
        self._search_timer.stop()
        self.model.set_query(self.current_query())

    # ----- selection -----
    def _on_selection_changed(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = selected.indexes()
        if indexes:
            row = self.model.row(indexes[0].row())
            if row is not None:
                self.context.messageSelected.emit(row.to_record())

    # ----- export -----
    def _on_export_clicked(self, fmt: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, f"Export audit rows as {fmt.upper()}", f"audit.{fmt}",
                                              f"{fmt.upper()} files (*.{fmt})")
        if path:
            self.export_to(path, fmt)

    def export_to(self, path: str | Path, fmt: str) -> ExportJob | None:
        """Export the current search in chunks driven by the event loop, with a cancellable progress dialog."""
        if self.store is None or self._export is not None:
            return None
        out = open(path, "w", newline="", encoding="utf-8")
        job = ExportJob(self.store, self.current_query(), fmt, out)
        dialog = QProgressDialog(f"Exporting {job.total} rows to {Path(path).name}…", "Cancel", 0, max(job.total, 1), self)
        dialog.setObjectName("auditExportProgress")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)
        timer = QTimer(self, interval=0)
        self._export = (job, dialog, timer, str(path))
        timer.timeout.connect(self._on_export_step)
        dialog.canceled.connect(lambda: self._finish_export(cancelled=True))
        timer.start()
        return job

    def cancel_export(self) -> None:
        if self._export is not None:
            self._finish_export(cancelled=True)

    def _on_export_step(self) -> None:
        if self._export is None:
            return
        job, dialog, _timer, _path = self._export
        if dialog.wasCanceled():
            self._finish_export(cancelled=True)
            return
        more = job.step()
        dialog.setValue(min(job.written, dialog.maximum() - 1) if more else dialog.maximum())
        if not more:
            self._finish_export(cancelled=False)

    def _finish_export(self, cancelled: bool) -> None:
        if self._export is None:
            return
        job, dialog, timer, path = self._export
        self._export = None
        timer.stop()
        timer.deleteLater()
        job.out.close()
        dialog.close()
        dialog.deleteLater()
        self.status_label.setText(f"Export {'cancelled after' if cancelled else 'wrote'} {job.written} rows to {path}")
        self.exportFinished.emit(path, job.written, cancelled)

    def shutdown(self) -> None:
        """Close this view's read connection (the workspace stops the recorder)."""
        self._close_store()
