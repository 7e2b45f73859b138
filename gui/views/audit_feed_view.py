"""Audit feed: the durable audit store as a searchable, exportable table.

The workspace records (its audit writer commits and acks on its own thread); this view only
shows what each change summary says was committed. History pages, searches and exports are read
by a ``FeedReader`` on its own thread, through its own read-only connection: the window never waits
on the database.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QEvent, QItemSelection, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QProgressDialog,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from eventscope.core.audit.feed import ExportProgress, FeedReader
from eventscope.core.audit.postgres import is_postgres_url, mask_url
from eventscope.core.audit.recorder import AuditRecorder
from eventscope.core.audit.store import AuditQuery, AuditRow
from eventscope.core.audit.stores import shown
from eventscope.gui.context import AppContext
from eventscope.gui.futures import FutureWatcher
from eventscope.gui.models.audit_table_model import LIVE_ROWS, PAIR_COLUMN, AuditTableModel
from eventscope.gui.status_colours import status_style
from eventscope.gui.views.audit_store_dialog import (
    MAX_PAYLOAD_KEY,
    MIB,
    STORE_KEY,
    AuditStoreDialog,
    saved_max_payload,
    team_password,
    tls_state,
)
from eventscope.gui.views.column_chooser import ColumnChooser
from eventscope.gui.views.elided_label import ElidedLabel
from eventscope.gui.views.replay_dialog import ReplayDialog

log = logging.getLogger(__name__)

SEARCH_DELAY_MS = 250
ORDER_KEY = "audit/newestLast"
COLUMNS_KEY = "audit/hiddenColumns"
MESH_ONLY_COLUMNS = {"Path", "Dup"}  # empty with one broker: hidden until the user chooses otherwise
# time, broker, kind, pair, RTT, topic, region, correlation, payload, reply, QoS, size, path (dup takes the rest)
COLUMN_WIDTHS = (90, 80, 60, 115, 65, 200, 80, 110, 220, 220, 36, 50, 220)


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
        self.reader: FeedReader | None = None  # this view's read-only connection, on its own thread
        self._notice = ""
        self._write_warning = ""
        self._export: tuple[ExportProgress, QProgressDialog, QTimer, str] | None = None
        self._opening: int | None = None  # the row whose whole payload is being read for the details pane
        self._watcher = FutureWatcher(self)
        self.model = AuditTableModel(None, self)
        self.model.readFailed.connect(self._on_read_failed)
        self.model.loaded.connect(self._on_loaded)

        self.topic_edit = QLineEdit(objectName="auditTopicSearch", placeholderText="Topic contains")
        self.region_edit = QLineEdit(objectName="auditRegionSearch", placeholderText="Region")
        self.kind_combo = QComboBox(objectName="auditKind")
        self.kind_combo.addItems(["any kind", "request", "reply", "other", "replay"])  # replays apart
        self.text_edit = QLineEdit(objectName="auditTextSearch", placeholderText="Payload contains")
        self.export_csv_button = QToolButton(objectName="auditExportCsv", text="Export CSV…")
        self.export_jsonl_button = QToolButton(objectName="auditExportJsonl", text="Export JSONL…")
        self.replay_button = QToolButton(objectName="auditReplay", text="Replay…")
        self.replay_button.setToolTip("Send the selected rows (or the current search) again to a broker, and "
                                      "compare today's replies with the recorded ones")
        self.store_button = QToolButton(objectName="auditStoreButton", text="Store…")
        self.store_button.setToolTip("Where the audit is kept: this computer (SQLite) or the team's PostgreSQL database; "
                                     "and how much of each payload")
        self.tls_label = QLabel("", objectName="auditTls")  # the team database's TLS state; red when not verified
        self.tls_label.setTextFormat(Qt.TextFormat.PlainText)
        self.tls_label.hide()
        self.order_button = QToolButton(objectName="auditOrder", checkable=True)
        self.order_button.setToolTip("Newest at the bottom, following new rows as streams do, or newest at the top")
        self.warning_label = QLabel("", objectName="auditWarning")
        self.warning_label.setTextFormat(Qt.TextFormat.PlainText)
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet("background: #fff3cd; color: #6b4b00; padding: 4px")
        self.warning_label.hide()
        self.status_label = ElidedLabel(objectName="auditStatus")
        self.table = QTableView(objectName="auditTable")
        self.empty_note = QLabel("", self.table.viewport(), objectName="auditEmpty")
        self.empty_note.setTextFormat(Qt.TextFormat.PlainText)
        self.empty_note.setWordWrap(True)
        self.empty_note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_note.setEnabled(False)  # the palette's muted text
        self.table.setModel(self.model)
        for changed in (self.model.rowsInserted, self.model.rowsRemoved, self.model.modelReset):
            changed.connect(lambda *_: self._update_empty_note())
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)  # rows to replay
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setWordWrap(False)
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerItem)  # scroll values count rows
        for column, width in enumerate(COLUMN_WIDTHS):  # the last column takes the rest
            self.table.setColumnWidth(column, width)
        self.columns = ColumnChooser(self.table, AuditTableModel.COLUMNS, context.settings, COLUMNS_KEY,
                                     self._empty_columns)
        context.brokersChanged.connect(self.columns.apply)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._on_row_menu)
        self.partner_action = QAction("Go to the other half of the pair", self, objectName="actionAuditPartner",
                                      shortcut=QKeySequence("Ctrl+J"), triggered=self.go_to_partner)
        self.partner_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.table.addAction(self.partner_action)
        self.table.doubleClicked.connect(lambda index: index.column() == PAIR_COLUMN and self.go_to_partner())

        bar = QHBoxLayout()
        for widget in (self.topic_edit, self.region_edit, self.kind_combo, self.text_edit):
            bar.addWidget(widget)
        bar.addWidget(self.order_button)
        bar.addWidget(self.export_csv_button)
        bar.addWidget(self.export_jsonl_button)
        bar.addWidget(self.replay_button)
        bar.addWidget(self.store_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.warning_label)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)
        status_row = QHBoxLayout()
        status_row.addWidget(self.status_label, 1)
        status_row.addWidget(self.tls_label)
        layout.addLayout(status_row)

        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS, timeout=self.apply_search)
        for edit in (self.topic_edit, self.region_edit, self.text_edit):
            edit.textChanged.connect(self._search_timer.start)
        self.kind_combo.currentIndexChanged.connect(self._search_timer.start)
        self.export_csv_button.clicked.connect(lambda: self._on_export_clicked("csv"))
        self.export_jsonl_button.clicked.connect(lambda: self._on_export_clicked("jsonl"))
        self.store_button.clicked.connect(self.open_store_dialog)
        self.replay_button.clicked.connect(self.open_replay_dialog)
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.order_button.toggled.connect(self.set_newest_last)
        self.table.verticalScrollBar().valueChanged.connect(self._on_scrolled)
        self._shift_target: int | None = None  # where the view goes once rows inserted above it are laid out
        self.table.verticalScrollBar().rangeChanged.connect(self._apply_shift)
        self.model.rowsPagedAbove.connect(self._on_rows_paged_above)
        self.order_button.setChecked(bool(context.settings.value(ORDER_KEY, False, type=bool)))
        self._show_order()
        context.auditChanged.connect(self._on_audit_changed)
        context.bridge.summaryReady.connect(self._on_summary)
        self._filters = filters
        team = str(context.settings.value(STORE_KEY, "") or "") if db_path is None else ""
        if is_postgres_url(team):  # the team database, chosen on an earlier run; its password in the keychain
            self.use_store(team, team_password(team))
        else:
            if db_path is not None:
                self._open_reader(Path(db_path))
            # the workspace records; this view shows
            context.set_audit(db_path, filters, max_payload=saved_max_payload(context.settings))
        if context.connection is None:
            self._show_warning()
        self.table.viewport().installEventFilter(self)
        self._update_empty_note()

    @property
    def recorder(self) -> AuditRecorder | None:
        """The workspace's recorder for the current connection (None when another process records)."""
        connection = self.context.connection
        return connection.recorder if connection is not None else None

    # ----- the database -----
    @property
    def path(self) -> Path | str | None:
        """The audit database this feed shows."""
        return self.reader.path if self.reader is not None else None

    def _open_reader(self, path: Path | str, password: str | None = None) -> None:
        """Show ``path`` (or keep showing it); it opens on the reader's thread, and a failure is reported."""
        if self.reader is not None and self.reader.path == path:
            return
        self._close_reader()
        self.reader = FeedReader(path, self.context.region_level, password)
        self._watcher.watch(self.reader.open(), lambda f, reader=self.reader: self._on_opened(reader, f))
        self.model.set_reader(self.reader)
        self._scroll_to_newest()  # a feed opens on its newest rows, whichever end they are at

    def _on_opened(self, reader: FeedReader, future) -> None:
        if reader is self.reader and future.exception() is not None:
            self._on_read_failed(str(future.exception()))

    def _on_loaded(self, first_page: bool) -> None:
        if first_page:  # a new search or database: show its newest rows
            self._scroll_to_newest()
        else:  # a page came while the view waited at an end for another: ask for it now
            self._on_scrolled(self.table.verticalScrollBar().value())
        self._update_empty_note()

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        if watched is self.table.viewport() and event.type() == QEvent.Type.Resize and self.empty_note.isVisible():
            self.empty_note.setGeometry(self.table.viewport().rect().adjusted(16, 16, -16, -16))
        return super().eventFilter(watched, event)

    def _update_empty_note(self) -> None:
        """What an empty feed waits for, or that the search matches nothing, over its blank area."""
        if self.model.rowCount() > 0:
            self.empty_note.hide()
            return
        searching = not self.current_query().is_empty
        self.empty_note.setText("No recorded row matches this search." if searching else
                                "No requests or replies recorded yet: they appear here as the audit records them "
                                "(the status line below says which filters, into which store).")
        self.empty_note.setGeometry(self.table.viewport().rect().adjusted(16, 16, -16, -16))
        self.empty_note.show()

    def _on_read_failed(self, reason: str) -> None:
        self._notice = reason
        self._show_warning()

    def _close_reader(self) -> None:
        if self.reader is not None:
            self.model.set_reader(None)
            self.reader.close()
            self.reader = None

    # ----- where the audit is kept -----
    @property
    def team(self) -> bool:
        """The feed shows the team's PostgreSQL database (every recorder's rows, live)."""
        return self.reader is not None and is_postgres_url(self.reader.path)

    def selected_ids(self) -> list[int]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [row.id for row in (self.model.row(r) for r in rows) if row is not None]

    def open_replay_dialog(self) -> ReplayDialog | None:
        """Replay the selected rows, or the current search when nothing is selected."""
        if self.reader is None:
            self.status_label.setText("No audit database to replay from")
            return None
        dialog = ReplayDialog(self.context, self.reader, self.current_query(), self.selected_ids(), self)
        dialog.finished.connect(dialog.deleteLater)
        self.replay_dialog = dialog
        dialog.open()
        return dialog

    def open_store_dialog(self) -> AuditStoreDialog:
        settings = self.context.settings
        dialog = AuditStoreDialog(str(settings.value(STORE_KEY, "") or ""), saved_max_payload(settings), self)
        dialog.accepted.connect(lambda: self.use_store(dialog.location(), dialog.password(), dialog.max_payload()))
        dialog.finished.connect(dialog.deleteLater)
        self.store_dialog = dialog
        dialog.open()
        return dialog

    def use_store(self, location: str, password: str | None = None, max_payload: int | None = None) -> None:
        """Record and read ``location``: "" for this computer's SQLite file, or the team database's URL
        (no password in it), keeping payloads whole up to ``max_payload`` bytes (None: as chosen before).
        Remembered for the next start; the password lives in the keychain."""
        self.context.settings.setValue(STORE_KEY, location)
        if max_payload is not None:
            self.context.settings.setValue(MAX_PAYLOAD_KEY, max(1, max_payload // MIB))
        self._notice = ""
        if is_postgres_url(location):
            self._open_reader(location, password)  # shown whether or not this window records into it
            state, weak = tls_state(location)
            self.tls_label.setText(state)
            self.tls_label.setStyleSheet(status_style("error" if weak else "muted"))
            self.tls_label.show()
            self.status_label.setText(f"Team database {mask_url(location)}"
                                      + (" (read-only: viewing)" if self.context.read_only else ""))
        else:
            self.tls_label.hide()
            if self.team:  # back to this computer: the team database is no longer shown
                self._close_reader()
        self.context.set_audit(location or None, self._filters, db_password=password,
                               max_payload=saved_max_payload(self.context.settings))
        self._show_warning()

    def _on_audit_changed(self, connection) -> None:
        if connection is None:
            return
        self._notice = connection.audit_notice
        self._write_warning = ""
        if self.team and self.reader is not None:  # the team database is shown whatever this window records
            if connection.recorder is not None:
                self.status_label.setText(f"Recording {', '.join(connection.recorder.filters)} into the team "
                                          f"database {shown(self.reader.path)}")
        elif connection.audit_path is not None:
            self._open_reader(connection.audit_path)
            if connection.recorder is not None:
                filters = ", ".join(connection.recorder.filters)
                self.status_label.setText(f"Recording {filters} into {connection.audit_path}")
            else:
                self.status_label.setText(f"Showing {connection.audit_path} (not recording)")
        self._show_warning()

    def _on_summary(self, summary) -> None:
        """Show what the writer committed: one insertion at the top, one refresh per answered request."""
        self._shift_target = None  # a shift the scroll range never asked for (every row fitted) is stale now
        for delta in summary.audit:
            if delta.path != self.path:
                continue  # another database (set while another was shown)
            warning = delta.warning
            if warning and delta.pending:
                warning += f" ({delta.pending} messages waiting in memory)"
            if warning != self._write_warning:
                self._write_warning = warning
                self._show_warning()
            if delta.committed or delta.sightings or not delta.complete:  # incomplete: read the rest back
                # A selected row pauses following: it stays where it is on screen while rows arrive.
                selected = self.table.selectionModel().hasSelection()
                following = self.following() and not selected
                before = self.model.rowCount()
                self.model.add_committed(delta.rows, delta.pairings, delta.complete, delta.sightings)
                if following:
                    self.model.trim()
                    self._scroll_to_newest()
                elif self.model.newest_last:
                    self.model.drop_newest_beyond_cap()  # away from the newest end: they page in on the way back
                else:
                    if self.model.rowCount() > before:
                        self._keep_rows_in_place(self.model.rowCount() - before)
                    if selected:  # still bounded: the oldest rows go, never the selected one or any above it
                        rows = self.table.selectionModel().selectedRows()
                        self.model.trim(max(LIVE_ROWS, 1 + max(index.row() for index in rows)))
                    self.model.drop_newest_beyond_cap()

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
        if self.model.feed.newer_dropped:  # paged deep into history: the loaded end is not the newest
            return False
        bar = self.table.verticalScrollBar()
        return bar.value() >= bar.maximum() if self.model.newest_last else bar.value() == 0

    def _scroll_to_newest(self) -> None:
        if self.model.feed.newer_dropped:  # the newest rows were let go of: read the newest page again
            self.model.set_query(self.model.query)  # its ``loaded`` scrolls to it
            return
        if self.model.newest_last:
            self.table.scrollToBottom()
        else:
            self.table.scrollToTop()

    def _on_scrolled(self, value: int) -> None:
        """Qt fetches more only at the bottom. So here: with the newest at the bottom, older pages load at the
        top; and after paging deep into history, the newer rows let go of page back in at the newest end."""
        bar = self.table.verticalScrollBar()
        at_newest_end = value == (bar.maximum() if self.model.newest_last else bar.minimum())
        if at_newest_end and self.model.has_newer():  # paged deep into history and back: the newer rows page in
            self.model.fetch_newer()
            return
        if self.model.newest_last and value == bar.minimum():
            self.model.fetch_older()  # the page arrives later, above: ``rowsPagedAbove`` keeps the user's row in place

    def _on_rows_paged_above(self, count: int) -> None:
        """A page went in above the shown rows (or, negative, rows went out): scroll as many, at once."""
        bar = self.table.verticalScrollBar()
        base = self._shift_target if self._shift_target is not None else bar.value()  # with a summary's shift
        self._shift_target = None
        self.table.doItemsLayout()  # the scroll bar learns of the rows now, not on Qt's next layout
        bar.setValue(base + count)

    def _keep_rows_in_place(self, inserted_above: int) -> None:
        """Rows went in at the top: scroll down as many (added up over one summary's deltas), once the scroll
        bar knows of them (``_apply_shift``)."""
        base = self._shift_target if self._shift_target is not None else self.table.verticalScrollBar().value()
        self._shift_target = base + inserted_above

    def _apply_shift(self, _minimum: int, _maximum: int) -> None:
        if self._shift_target is not None:
            self.table.verticalScrollBar().setValue(self._shift_target)
            self._shift_target = None

    # ----- columns and pairs -----
    def _empty_columns(self) -> set[str]:
        return set(MESH_ONLY_COLUMNS) if len(self.context.connections()) < 2 else set()

    def _on_row_menu(self, position) -> None:
        menu = QMenu(self.table)
        menu.addAction(self.partner_action)
        menu.popup(self.table.viewport().mapToGlobal(position))

    def go_to_partner(self) -> bool:
        """Select the other half of the selected request/reply pair (Ctrl+J, or double-click on Pair)."""
        index = self.table.currentIndex()
        row = self.model.row(index.row()) if index.isValid() else None
        partner = self.model.feed.partner_id(row) if row is not None else None
        shown = self.model.shown_position(partner) if partner is not None else None
        if shown is None:
            self.status_label.setText("No other half to go to: " + ("it is not in this view (search or older page)"
                                                                     if partner is not None else "not a pair yet"))
            return False
        self.table.selectRow(shown)
        self.table.scrollTo(self.model.index(shown, 0))
        return True

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
                self.open_row(row)

    def open_row(self, row: AuditRow) -> None:
        """Show ``row`` in the details pane: a row holding a payload preview is read whole first."""
        self._opening = row.id
        if not row.payload_is_preview or self.reader is None:
            self.context.messageSelected.emit(row.to_record())
            return
        self._watcher.watch(self.reader.whole_row(row.id), lambda future: self._on_whole_row(row, future))

    def _on_whole_row(self, shown: AuditRow, future) -> None:
        if self._opening != shown.id:
            return  # another row was opened meanwhile
        whole = future.result() if future.exception() is None else None
        self.context.messageSelected.emit((whole or shown).to_record())  # gone or unreadable: the preview

    # ----- export -----
    def _on_export_clicked(self, fmt: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, f"Export audit rows as {fmt.upper()}", f"audit.{fmt}",
                                              f"{fmt.upper()} files (*.{fmt})")
        if path:
            self.export_to(path, fmt)

    def export_to(self, path: str | Path, fmt: str) -> ExportProgress | None:
        """Export the current search on the reader's thread, with a cancellable progress dialog."""
        if self.reader is None or self._export is not None:
            return None
        progress, future = self.reader.export(self.current_query(), fmt, path)
        dialog = QProgressDialog(f"Exporting to {Path(path).name}…", "Cancel", 0, 0, self)
        dialog.setObjectName("auditExportProgress")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)
        timer = QTimer(self, interval=100)
        self._export = (progress, dialog, timer, str(path))
        timer.timeout.connect(self._on_export_progress)
        dialog.canceled.connect(progress.cancelled.set)
        timer.start()
        self._watcher.watch(future, self._finish_export)
        return progress

    def cancel_export(self) -> None:
        if self._export is not None:
            self._export[0].cancelled.set()

    def _on_export_progress(self) -> None:
        if self._export is None:
            return
        progress, dialog, _timer, _path = self._export
        if dialog.wasCanceled():  # Cancel pressed (or the dialog closed): the export stops at its next chunk
            progress.cancelled.set()
        if progress.total:
            dialog.setMaximum(progress.total)
            dialog.setValue(min(progress.written, progress.total - 1))

    def _finish_export(self, future) -> None:
        if self._export is None:
            return
        progress, dialog, timer, path = self._export
        self._export = None
        timer.stop()
        timer.deleteLater()
        dialog.canceled.disconnect()  # closing a progress dialog reports a cancel: not the user's
        dialog.close()
        dialog.deleteLater()
        cancelled = progress.stopped_early
        if future.exception() is not None:
            self.status_label.setText(f"Export to {path} failed: {future.exception()}")
            log.warning("audit export to %s failed: %s", path, future.exception())
        else:
            verb = "cancelled after" if cancelled else "wrote"
            self.status_label.setText(f"Export {verb} {progress.written} rows to {path}")
        self.exportFinished.emit(path, progress.written, cancelled)

    def shutdown(self) -> None:
        """Stop an export and close this view's read connection (the workspace stops the recorder)."""
        self.cancel_export()
        self._close_reader()
