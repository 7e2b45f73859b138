"""Streams: tabs of live, region-filtered tables. Each tab shows one workspace stream.

The workspace's tick thread filters every message into the streams; a tab only applies the
``StreamDelta`` its summary carries, and sends its filter, region and pause changes to the
workspace as commands.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace

from PySide6.QtCore import QItemSelection, Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QSpinBox,
    QTableView,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from eventscope.core.models.stream import DEFAULT_CAPACITY, Stream
from eventscope.core.models.stream_filter import StreamFilter
from eventscope.core.topics import TopicError, validate_filter
from eventscope.gui.context import AppContext
from eventscope.gui.models.stream_table_model import StreamTableModel
from eventscope.gui.status_colours import status_colour, status_style
from eventscope.gui.views.region_chips import RegionChips

log = logging.getLogger(__name__)

DEFAULT_STREAM_FILTER = "+/hello/request"
CHIP_REFRESH_MS = 500


COLUMN_WIDTHS = (95, 100, 90, 230, 40, 50, 60)  # time, broker, region, topic, QoS, retain, size



class TopicLevelSpin(QSpinBox):
    """The region's topic level, counted as people count ("1st level"), kept 0-based underneath."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.lineEdit().setReadOnly(True)  # arrows and the wheel choose; the words are not typed

    def textFromValue(self, value: int) -> str:  # noqa: N802 (Qt's name)
        number = value + 1
        suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
        return f"{number}{suffix} level"

class StreamTab(QWidget):
    """One stream: filter, region level, region chips, search, pause, and the table."""

    def __init__(self, context: AppContext, topic_filter: str = DEFAULT_STREAM_FILTER,
                 capacity: int = DEFAULT_CAPACITY, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setObjectName("streamTab")
        self.stream_filter = StreamFilter(topic_filter)  # what this tab asked the workspace for
        self.stream_id = context.workspace.add_stream(self.stream_filter, capacity)
        self.model = StreamTableModel(self.stream_filter.region, self)
        self._paused = False
        self._regions = ()
        self._extra_subscription = ""  # a $-filter the main session's "#" does not cover …
        self._extra_broker = ""  # … and the broker it is held on (the current one may change)
        self._following = True

        self.filter_edit = QLineEdit(topic_filter, objectName="streamFilter")
        self.filter_edit.setPlaceholderText("MQTT filter, e.g. +/hello/request")
        self.filter_edit.setAccessibleName("Stream filter")
        self.level_spin = TopicLevelSpin(objectName="regionLevel")
        self.level_spin.setRange(0, 16)
        self.level_spin.setToolTip("Which topic level names the region: the 1st in us-east/hello/request")
        self.region_source = QComboBox(objectName="regionSource")
        self.region_source.addItem("Region from topic", False)
        self.region_source.addItem("Region from broker", True)
        self.region_source.setToolTip("Take each message's region from a topic level, or from the region of the "
                                      "broker it arrived on (set in its profile; otherwise the broker's name)")
        self.search_edit = QLineEdit(objectName="streamSearch")
        self.search_edit.setPlaceholderText("Search topic or payload")
        self.search_edit.setClearButtonEnabled(True)
        self.brokers_button = QToolButton(objectName="streamBrokers", text="All brokers")
        self.brokers_button.setToolTip("Show messages from these brokers only")
        self.brokers_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.brokers_menu = QMenu(self.brokers_button)
        self.brokers_button.setMenu(self.brokers_menu)
        self.pause_button = QToolButton(objectName="streamPause", text="Pause", checkable=True)
        self.pause_button.setToolTip("Pause the view (Space); messages keep being recorded")
        self.pause_button.setText("Resume")  # sized for its longer text, so toggling never moves the fields
        self.pause_button.setFixedWidth(self.pause_button.sizeHint().width())
        self.pause_button.setText("Pause")
        self.waiting_label = QLabel("", objectName="streamWaiting")
        # A fixed width, so "123 waiting" appearing on pause never squeezes the filter fields.
        self.waiting_label.setFixedWidth(self.waiting_label.fontMetrics().horizontalAdvance("9,999,999 waiting") + 6)
        self.empty_label = QLabel("", objectName="streamEmpty")
        self.empty_label.setTextFormat(Qt.TextFormat.PlainText)
        self.empty_label.setStyleSheet("color: palette(dark); padding: 2px")
        self.error_label = QLabel("", objectName="streamFilterError")
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setStyleSheet(status_style("error"))
        self.error_label.hide()
        self.chips = RegionChips(self)
        self.table = QTableView(objectName="streamTable")
        self.table.setMinimumHeight(56)  # a few rows at 1024×700; the dock grows it
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.setWordWrap(False)
        for column, width in enumerate(COLUMN_WIDTHS):  # room for whole topics; the payload takes the rest
            self.table.setColumnWidth(column, width)

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Filter:"))
        bar.addWidget(self.filter_edit, 2)
        bar.addWidget(self.region_source)
        bar.addWidget(self.level_spin)
        bar.addWidget(self.search_edit, 1)
        bar.addWidget(self.brokers_button)
        bar.addWidget(self.pause_button)
        bar.addWidget(self.waiting_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(self.error_label)
        layout.addWidget(self.chips)
        layout.addWidget(self.empty_label)
        layout.addWidget(self.table, 1)

        shortcut = QShortcut(QKeySequence(Qt.Key.Key_Space), self, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut.activated.connect(self.pause_button.toggle)
        self.filter_edit.editingFinished.connect(self._on_filter_edited)
        self.level_spin.valueChanged.connect(self._on_filter_edited)
        self.region_source.currentIndexChanged.connect(self._on_region_source_changed)
        self.search_edit.textChanged.connect(self._on_search_changed)
        self.pause_button.toggled.connect(self._on_pause_toggled)
        self.chips.selectionChanged.connect(self._on_regions_selected)
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.table.verticalScrollBar().valueChanged.connect(self._on_scrolled)
        context.bridge.summaryReady.connect(self.apply_summary)
        context.brokersChanged.connect(self._fill_brokers_menu)
        context.brokersChanged.connect(self._on_broker_regions_changed)
        self._fill_brokers_menu()
        self._chip_timer = QTimer(self, interval=CHIP_REFRESH_MS, timeout=self._refresh_chips)
        self._chip_timer.start()
        self._show_empty_state()

    @property
    def stream(self) -> Stream:
        """The workspace's core stream, for reading; its rows belong to the tick thread."""
        return self.context.workspace.stream(self.stream_id)

    # ----- traffic -----
    def apply_summary(self, summary) -> None:
        """Apply this tab's deltas: one removal range and one insertion range each at most."""
        for delta in summary.stream_deltas(self.stream_id):
            self._regions = delta.regions
            if delta.new_regions:
                self._refresh_chips()
                self.context.note_regions(delta.new_regions)
            if delta.paused:
                self.waiting_label.setText(f"{delta.waiting} waiting")
            if delta.changes_rows:
                self.model.apply_delta(delta)
                if self._following and (delta.appended or delta.reset):
                    self.table.scrollToBottom()
                self._show_empty_state()

    def _show_empty_state(self) -> None:
        """An empty table says why: nothing matched the search yet, or nothing arrived on the filter yet."""
        if self.model.rowCount():
            self.empty_label.hide()
            return
        f = self.stream_filter
        if f.text or f.regions or f.hidden_regions or f.brokers:
            narrowed = [f"search {f.text!r}"] if f.text else []
            narrowed += ["the chosen regions"] if f.regions or f.hidden_regions else []
            narrowed += ["the chosen brokers"] if f.brokers else []
            text = f"No message on {f.topic_filter} matches {' and '.join(narrowed)}"
        else:
            text = f"Waiting for messages on {f.topic_filter}"
        self.empty_label.setText(text)
        self.empty_label.show()

    def _refresh_chips(self) -> None:
        self.chips.show_counts(list(self._regions))

    def _fill_brokers_menu(self) -> None:
        """One checkable entry per open broker; none checked means every broker."""
        chosen = self.stream_filter.brokers
        self.brokers_menu.clear()
        for connection in self.context.connections():
            action = self.brokers_menu.addAction(connection.broker_id)
            action.setObjectName(f"streamBroker_{connection.broker_id}")
            action.setCheckable(True)
            action.setChecked(connection.broker_id in chosen)
            action.toggled.connect(lambda _checked: self._on_brokers_chosen())
        self._show_brokers_choice()

    def _on_brokers_chosen(self) -> None:
        chosen = frozenset(a.text() for a in self.brokers_menu.actions() if a.isChecked())
        self._set_filter(replace(self.stream_filter, brokers=chosen))
        self._show_brokers_choice()

    def choose_brokers(self, names) -> None:
        """Show only these brokers' messages (empty: all), as ticking them in the menu does."""
        for action in self.brokers_menu.actions():
            action.blockSignals(True)
            action.setChecked(action.text() in names)
            action.blockSignals(False)
        self._on_brokers_chosen()

    def _show_brokers_choice(self) -> None:
        chosen = sorted(self.stream_filter.brokers)
        self.brokers_button.setText("All brokers" if not chosen else chosen[0] if len(chosen) == 1
                                    else f"{len(chosen)} brokers")

    def _change(self, change) -> None:
        self.context.workspace.change_stream(self.stream_id, change)

    # ----- user actions -----
    def set_topic_filter(self, text: str) -> bool:
        """Apply a new filter from the field. Shows the reason and keeps the old one if it is invalid."""
        text = text.strip()
        try:
            new = StreamFilter(text, self.level_spin.value(), text=self.search_edit.text(),
                               hidden_regions=self.chips.hidden, brokers=self.stream_filter.brokers,
                               **self._region_choice())
        except (TopicError, ValueError) as exc:
            self.error_label.setText(str(exc))
            self.error_label.show()
            self.filter_edit.setStyleSheet(f"border: 1px solid {status_colour('error').name()}")
            return False
        self.error_label.hide()
        self.filter_edit.setStyleSheet("")
        old = self.stream_filter
        if (old.topic_filter, old.region_level) != (new.topic_filter, new.region_level):
            new = StreamFilter(new.topic_filter, new.region_level, text=new.text, brokers=new.brokers,
                               **self._region_choice())
            self.chips.clear()
            self._regions = ()
            self._update_extra_subscription(new.topic_filter)
        self._set_filter(new)
        return True

    def _set_filter(self, new: StreamFilter) -> None:
        self._apply_filter(new)
        self._show_empty_state()

    def _apply_filter(self, new: StreamFilter) -> None:
        if new.region_key != self.stream_filter.region_key:  # other regions: the old chips mean nothing now
            self.chips.clear()
            self._regions = ()
            new = replace(new, regions=frozenset(), hidden_regions=frozenset())
        self.stream_filter = new
        self.model.region = new.region
        self._change(lambda stream: stream.set_filter(new))

    def _region_choice(self) -> dict:
        from_broker = bool(self.region_source.currentData())
        regions = tuple(sorted((e.broker_id, e.region) for e in self.context.entries())) if from_broker else ()
        return {"region_from_broker": from_broker, "broker_regions": regions}

    def set_region_from_broker(self, from_broker: bool) -> None:
        self.region_source.setCurrentIndex(1 if from_broker else 0)

    def _on_region_source_changed(self) -> None:
        self.level_spin.setEnabled(not self.region_source.currentData())
        self._set_filter(replace(self.stream_filter, **self._region_choice()))

    def _on_broker_regions_changed(self) -> None:
        if self.stream_filter.region_from_broker:
            choice = self._region_choice()
            if choice["broker_regions"] != self.stream_filter.broker_regions:
                self._set_filter(replace(self.stream_filter, **choice))

    def _update_extra_subscription(self, topic_filter: str) -> None:
        """'#' never delivers $-topics, so a $-filter needs its own subscription on the current broker.

        Held through the context (a filter the user or another tool has stays theirs), and released
        when the filter, the current broker or the tab changes.
        """
        connection = self.context.connection
        broker_id = connection.broker_id if connection is not None else ""
        if self._extra_subscription and (self._extra_subscription != topic_filter or self._extra_broker != broker_id):
            self._drop_extra_subscription()
        if broker_id and topic_filter.startswith("$") and not self._extra_subscription:
            self.context.hold_subscription(broker_id, topic_filter)
            self._extra_subscription, self._extra_broker = topic_filter, broker_id

    def _drop_extra_subscription(self) -> None:
        broker_id, topic_filter = self._extra_broker, self._extra_subscription
        self._extra_subscription, self._extra_broker = "", ""
        if topic_filter:
            self.context.release_subscription(broker_id, topic_filter)

    def _on_filter_edited(self) -> None:
        self.set_topic_filter(self.filter_edit.text())

    def _on_search_changed(self, text: str) -> None:
        try:
            new = replace(self.stream_filter, text=text)
        except ValueError as exc:
            self.error_label.setText(str(exc))
            self.error_label.show()
            return
        self._set_filter(new)

    def _on_regions_selected(self, hidden: frozenset[str]) -> None:
        self._set_filter(replace(self.stream_filter, hidden_regions=frozenset(hidden)))

    def _on_pause_toggled(self, paused: bool) -> None:
        if paused:
            self._change(Stream.pause)
            self.pause_button.setText("Resume")
            self.waiting_label.setText("0 waiting")
        else:
            self._change(Stream.resume)
            self.pause_button.setText("Pause")
            self.waiting_label.setText("")

    def _on_scrolled(self, value: int) -> None:
        # Follow only while the user is at the bottom; scrolling up stops it, scrolling back resumes it.
        self._following = value >= self.table.verticalScrollBar().maximum()

    def _on_selection_changed(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = selected.indexes()
        if indexes:
            record = self.model.record(indexes[0].row())
            if record is not None:
                self.context.messageSelected.emit(record)

    def on_session_changed(self, _session) -> None:
        self._update_extra_subscription(self.stream_filter.topic_filter)

    def close_stream(self) -> None:
        """Stop this tab's stream in the workspace and drop its extra subscription."""
        self.context.bridge.summaryReady.disconnect(self.apply_summary)
        self.context.workspace.remove_stream(self.stream_id)
        self._drop_extra_subscription()


STREAMS_KEY = "streams/filters"


def _is_valid_filter(text) -> bool:
    try:
        validate_filter(text)
    except (TopicError, TypeError):
        return False
    return True


class StreamView(QWidget):
    """Stream tabs. New tabs start with the default filter; each filters the main batch locally."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setObjectName("streamView")
        self.setAccessibleName("Streams")
        self.tabs = QTabWidget(objectName="streamTabs")
        self.tabs.setTabsClosable(True)
        self.tabs.setDocumentMode(True)
        add_button = QToolButton(text="+", objectName="addStreamTab")
        add_button.setToolTip("New stream tab")
        add_button.clicked.connect(lambda: self.add_stream())
        self.tabs.setCornerWidget(add_button)
        self.tabs.tabCloseRequested.connect(self._on_tab_close_requested)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        context.sessionChanged.connect(self._on_session_changed)
        for topic_filter in self._saved_filters():
            self.add_stream(topic_filter)

    def _saved_filters(self) -> list[str]:
        saved = self.context.settings.value(STREAMS_KEY, [DEFAULT_STREAM_FILTER]) or [DEFAULT_STREAM_FILTER]
        items = [saved] if isinstance(saved, str) else saved if isinstance(saved, Iterable) else []
        filters = [f for f in items if _is_valid_filter(f)]
        return filters or [DEFAULT_STREAM_FILTER]  # a hand-edited settings file must not stop start-up

    def _save_filters(self) -> None:
        filters = [tab.stream_filter.topic_filter for tab in self._stream_tabs()]
        self.context.settings.setValue(STREAMS_KEY, filters)

    def add_stream(self, topic_filter: str = DEFAULT_STREAM_FILTER) -> StreamTab:
        tab = StreamTab(self.context, topic_filter)
        tab.filter_edit.editingFinished.connect(lambda: self._retitle(tab))
        self.tabs.addTab(tab, topic_filter)
        self.tabs.setCurrentWidget(tab)
        tab.on_session_changed(self.context.session)
        self._save_filters()
        return tab

    def stream_tab(self, index: int = 0) -> StreamTab:
        tab = self.tabs.widget(index)
        if not isinstance(tab, StreamTab):
            raise IndexError(f"no stream tab at index {index}")
        return tab

    def _stream_tabs(self) -> list[StreamTab]:
        """The tabs in order (every page of ``self.tabs`` is a ``StreamTab``)."""
        pages = (self.tabs.widget(i) for i in range(self.tabs.count()))
        return [page for page in pages if isinstance(page, StreamTab)]

    def _retitle(self, tab: StreamTab) -> None:
        self.tabs.setTabText(self.tabs.indexOf(tab), tab.stream_filter.topic_filter)
        self._save_filters()

    def _on_tab_close_requested(self, index: int) -> None:
        tab = self.tabs.widget(index)
        if self.tabs.count() > 1 and isinstance(tab, StreamTab):
            tab.close_stream()
            self.tabs.removeTab(index)
            tab.deleteLater()
            self._save_filters()

    def _on_session_changed(self, session) -> None:
        for tab in self._stream_tabs():
            tab.on_session_changed(session)
