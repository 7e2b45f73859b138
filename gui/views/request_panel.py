"""Request panel: compose a request, send it, see the reply with its RTT, and keep a history.

The panel assembles its parts (composer and reply on top; History, Options, Saved and Burst tabs below)
and does what needs more than one of them: sending, loading a past or saved request, and enabling the
send buttons. Sending is a qasync ``@asyncSlot()``: the buttons are disabled while the request awaits
``AppContext.request``/``burst`` and re-enabled in ``finally``. Every outcome, including a timeout or a
refusal, is shown as plain text in the panel; nothing here opens a modal.

The widgets keep their old names on the panel (``panel.send_button``, ``panel.saved_list``, …) as
references to the parts' widgets, so code and tests that drive the panel need not know the parts.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QScrollArea, QSplitter, QTabWidget, QVBoxLayout, QWidget
from qasync import asyncSlot

from eventscope.core.connections.handle import BrokerHandle
from eventscope.core.mqtt.session import SessionBase
from eventscope.core.requests.history import HistoryEntry, RequestHistory
from eventscope.core.requests.saved import DEFAULT_TEMPLATE, DamagedSavedRequest, SavedRequest
from eventscope.core.requests.tracker import Reply, RequestRefused, RequestTimeout, RequestTracker
from eventscope.gui.context import AppContext
from eventscope.gui.views.request_burst_tab import RequestBurstTab
from eventscope.gui.views.request_common import SETTINGS_PREFIX
from eventscope.gui.views.request_composer import REGION_PLACEHOLDER, RequestComposer, request_regions
from eventscope.gui.views.request_history_tab import RequestHistoryTab
from eventscope.gui.views.request_options_tab import V311_ONLY_REASON, RequestOptionsTab
from eventscope.gui.views.request_reply import RequestReply, format_payload
from eventscope.gui.views.request_saved_tab import SAVED_KEY, RequestSavedTab

# Names this module has always offered, now defined in the parts.
__all__ = ["DEFAULT_TEMPLATE", "REGION_PLACEHOLDER", "SAVED_KEY", "SETTINGS_PREFIX", "V311_ONLY_REASON", "RequestPanel",
           "format_payload", "request_regions"]


class RequestPanel(QWidget):
    """Compose, send and review requests on the current session."""

    def __init__(self, context: AppContext, parent: QWidget | None = None, history: RequestHistory | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setObjectName("requestPanel")
        self.setAccessibleName("Request panel")
        self._busy = False
        self._build(history if history is not None else RequestHistory())
        self._keep_widget_names()
        self._connect_signals()
        self._on_current_changed(context.session)

    # ----- construction ---------------------------------------------------------------
    def _build(self, history: RequestHistory) -> None:
        self.reply = RequestReply()
        self.composer = RequestComposer(self.context)
        for widget, stretch in self.reply.rows():
            self.composer.add_below(widget, stretch)
        self.options_tab = RequestOptionsTab(self.context.settings)
        self.history_tab = RequestHistoryTab(history)
        self.burst_tab = RequestBurstTab()
        self.saved_tab = RequestSavedTab(self.context.settings)

        # The composer and its result sit together on top, visible without scrolling; the
        # rarely changed options, bursts, history and saved requests share tabs below.
        self.tabs = QTabWidget(objectName="requestTabs")
        # Room for the tab bar, the history's header and a whole row (72 px showed not one at 1024×700);
        # the history scrolls beyond that, and the composer above keeps its room.
        self.tabs.setMinimumHeight(88)
        self.tabs.addTab(self.history_tab, "History")
        self.tabs.addTab(self.options_tab, "Options")
        self.tabs.addTab(_scrolling(self.saved_tab), "Saved")  # a short tab area scrolls them, never crushes
        self.tabs.addTab(_scrolling(self.burst_tab), "Burst")
        self.tabs.setCornerWidget(self.history_tab.resend_button, Qt.Corner.TopRightCorner)  # beside History, never squeezed
        splitter = QSplitter(Qt.Orientation.Vertical, objectName="requestSplitter")
        splitter.addWidget(self.composer)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        outer.addWidget(splitter)
        # Kept settings come back only once the parts are in place (see RequestComposer.restore_settings).
        self.composer.restore_settings()
        self.options_tab.restore_settings()

    def _keep_widget_names(self) -> None:
        """The parts' widgets under the names the panel has always had (the window and tests use them)."""
        composer, reply, options = self.composer, self.reply, self.options_tab
        history, burst, saved = self.history_tab, self.burst_tab, self.saved_tab
        self.broker_combo = composer.broker_combo
        self.region_combo = composer.region_combo
        self.template_edit = composer.template_edit
        self.topic_preview = composer.topic_preview
        self.payload_edit = composer.payload_edit
        self.payload_check = composer.payload_check
        self.format_button = composer.format_button
        self.send_button = composer.send_button
        self.progress = composer.progress
        self.status_label = reply.status_label
        self.reply_view = reply.reply_view
        self.reply_details = reply.reply_details
        self.version_label = options.version_label
        self.qos_combo = options.qos_combo
        self.reply_topic_edit = options.reply_topic_edit
        self.timeout_spin = options.timeout_spin
        self.content_type_edit = options.content_type_edit
        self.expiry_spin = options.expiry_spin
        self.user_properties = options.user_properties
        self.add_property_button = options.add_property_button
        self.remove_property_button = options.remove_property_button
        self.history_model = history.history_model
        self.history_sorter = history.history_sorter
        self.history_view = history.history_view
        self.resend_action = history.resend_action
        self.resend_button = history.resend_button
        self.burst_count = burst.burst_count
        self.burst_concurrency = burst.burst_concurrency
        self.burst_button = burst.burst_button
        self.burst_result = burst.burst_result
        self.saved_list = saved.saved_list
        self.save_name_edit = saved.save_name_edit
        self.save_request_button = saved.save_request_button
        self.send_saved_button = saved.send_saved_button
        self.delete_saved_button = saved.delete_saved_button

    def _connect_signals(self) -> None:
        self.send_button.clicked.connect(self.send_request)
        self.burst_button.clicked.connect(self.send_burst)
        self.history_tab.entryActivated.connect(self.load_entry)
        self.history_tab.resendRequested.connect(self.resend_selected)
        self.context.sessionChanged.connect(self._on_current_changed)
        self.context.brokersChanged.connect(self._fill_brokers)
        self.composer.brokerChosen.connect(lambda: self._on_session_changed(self.session))
        self.saved_tab.saveRequested.connect(self.save_current_request)
        self.saved_tab.sendRequested.connect(self.send_saved)
        self.saved_tab.loadRequested.connect(self.load_saved)

    # ----- what the parts hold ----------------------------------------------------------------
    def request_topic(self) -> str:
        return self.composer.request_topic()

    def user_property_pairs(self) -> tuple[tuple[str, str], ...]:
        return self.options_tab.user_property_pairs()

    def request_options(self) -> dict:
        return self.options_tab.request_options(v5=self.tracker is None or self.tracker.v5)

    # ----- session ----------------------------------------------------------------------
    @property
    def connection(self) -> BrokerHandle | None:
        """The broker chosen in the panel (the current one until the user picks another)."""
        return self.composer.connection

    @property
    def tracker(self) -> RequestTracker | None:
        connection = self.connection
        return connection.tracker if connection is not None else None

    @property
    def session(self) -> SessionBase | None:
        connection = self.connection
        return connection.session if connection is not None else None

    def _fill_brokers(self) -> None:
        self.composer.fill_brokers()
        self._on_session_changed(self.session)

    def _on_current_changed(self, _session) -> None:
        """The window's current broker changed: requests leave on it, until the user picks another."""
        self._fill_brokers()
        self.composer.follow_current()
        self._on_session_changed(self.session)

    def _on_session_changed(self, session: SessionBase | None) -> None:
        tracker = self.tracker
        self.options_tab.show_protocol(session, tracker.default_reply_topic() if tracker is not None else None)
        self._update_send_enabled()

    def _update_send_enabled(self) -> None:
        session = self.session
        if session is None:
            reason = "Connect to a broker to send requests"
        elif session.read_only:
            reason = "This connection is read-only (monitor mode): requests are disabled"
        elif self._busy:
            reason = "Waiting for the reply…"
        else:
            reason = ""
        for button in (self.send_button, self.burst_button, self.resend_button):
            button.setEnabled(not reason)
        self.resend_action.setEnabled(not reason)
        self.send_button.setToolTip(reason or "Send the request (Ctrl+Enter)")

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.progress.setVisible(busy)
        self._update_send_enabled()

    # ----- sending ------------------------------------------------------------------------
    def send_from_shortcut(self) -> bool:
        """Ctrl+Enter anywhere in the window: send, if sending is possible now."""
        if not self.send_button.isEnabled():
            return False
        self._start_send()
        return True

    def _start_send(self) -> None:
        """Start ``send_request``; qasync runs it as a task, and it reports its own outcome in the panel."""
        _task = self.send_request()

    @asyncSlot()
    async def send_request(self) -> None:
        """Send the composed request and show its reply, timeout or error in the panel."""
        connection = self.connection
        if self._busy or connection is None or connection.tracker is None or not self.send_button.isEnabled():
            return
        broker_id, topic = connection.broker_id, self.request_topic()
        payload = self.composer.payload()
        options = self.request_options()
        self._set_busy(True)
        self.reply.set_status(f"Waiting for a reply to {topic}…")
        self.reply.clear(f"Waiting for the reply to {topic}…")
        try:
            reply = await self.context.request(broker_id, topic, payload, **options)
        except RequestRefused as exc:
            self.reply.clear_details()
            self.reply.set_status(f"Not sent: {exc}")
        except RequestTimeout as exc:
            self.reply.clear(f"No reply to {topic}: the earlier reply is cleared")
            self.reply.set_status(f"Timeout: {exc}")
            self._record(topic, payload, "timeout", options, detail=str(exc))
        except Exception as exc:  # never let a failure escape the slot: show it
            message = str(exc) or type(exc).__name__
            self.reply.clear_details()
            self.reply.set_status(f"Error: {message}")
            self._record(topic, payload, "error", options, detail=message)
        else:
            self.reply.show(reply)
            self._record(topic, payload, reply.status, options, reply=reply)
        finally:
            self._set_busy(False)

    def _record(self, topic: str, payload: bytes, status: str, options: dict, reply: Reply | None = None,
                detail: str = "") -> None:
        tracker = self.tracker
        if reply is not None:
            reply_topic = reply.reply_topic
        else:
            reply_topic = options["reply_topic"] or (tracker.default_reply_topic() if tracker is not None else "")
        self.history_tab.add(HistoryEntry.create(
            topic, payload, status, qos=options["qos"], reply_topic=reply_topic,
            rtt=reply.rtt if reply else None, reply_size=len(reply.payload) if reply else None,
            correlation_id=reply.correlation_id if reply else "", detail=detail,
            broker=(reply.sent_on if reply and reply.sent_on else self.broker_combo.currentText()),
            reply_broker=reply.received_on if reply and reply.received_on else "",
            region=self.region_combo.currentText().strip() if "{region}" in self.template_edit.text() else ""))

    @asyncSlot()
    async def send_burst(self) -> None:
        """Send N requests with C in flight and show min/p50/p99/max RTT and failures."""
        connection = self.connection
        if self._busy or connection is None or connection.tracker is None or not self.burst_button.isEnabled():
            return
        broker_id, topic = connection.broker_id, self.request_topic()
        payload = self.composer.payload()
        count, concurrency = self.burst_tab.sizes()
        self._set_busy(True)
        self.burst_tab.show_started(count, concurrency)
        try:
            summary = await self.context.burst(broker_id, topic, payload, count, concurrency, **self.request_options())
        except Exception as exc:
            self.burst_tab.show_failure(exc)
        else:
            self.burst_tab.show_summary(summary)
        finally:
            self._set_busy(False)

    # ----- history ----------------------------------------------------------------------
    def load_entry(self, entry: HistoryEntry) -> None:
        """Put a past request back into the editor: topic (as region + template), payload, QoS, reply topic."""
        self.composer.load_topic(entry.topic)
        self.payload_edit.setPlainText(entry.payload_bytes.decode("utf-8", "replace"))
        self.qos_combo.setCurrentIndex(entry.qos)
        tracker = self.tracker
        default = tracker.default_reply_topic() if tracker is not None else ""
        self.reply_topic_edit.setText("" if entry.reply_topic == default else entry.reply_topic)

    def resend_selected(self) -> None:
        entry = self.history_tab.selected_entry()
        if entry is None:
            self.reply.set_status("Select a request in the history to re-send it")
            return
        self.load_entry(entry)
        self._start_send()

    # ----- saved requests -----------------------------------------------------------------
    def save_current_request(self) -> str | None:
        """Save the composer (topic template, region, payload, options) under the typed name."""
        name = self.saved_tab.typed_name()
        if not name:
            self.reply.set_status("Type a name for the request to save it")
            return None
        self.saved_tab.save(name, self._composed())
        self.reply.set_status(f"Saved the request as {name!r}")
        return name

    def _composed(self) -> SavedRequest:
        return SavedRequest(
            template=self.template_edit.text(), region=self.region_combo.currentText(),
            payload=self.payload_edit.toPlainText(), qos=self.qos_combo.currentIndex(),
            reply_topic=self.reply_topic_edit.text(), timeout=self.timeout_spin.value(),
            content_type=self.content_type_edit.text(), message_expiry=self.expiry_spin.value(),
            user_properties=self.user_property_pairs())

    def load_saved(self, name: str) -> bool:
        """Load a saved request into the composer; a damaged one is explained in the status line, not loaded."""
        try:
            saved = self.saved_tab.requests.get(name)
        except DamagedSavedRequest as exc:  # a hand-edited or older settings entry
            self.reply.set_status(str(exc))
            return False
        if saved is None:
            return False
        self.template_edit.setText(saved.template)
        self.composer.set_region(saved.region)
        self.payload_edit.setPlainText(saved.payload)
        self.options_tab.apply_saved(saved)
        self.reply.set_status(f"Loaded {name!r}")
        return True

    def send_saved(self) -> None:
        name = self.saved_tab.selected_name()
        if name is None:
            self.reply.set_status("Select a saved request to send it")
            return
        if self.load_saved(name):
            self._start_send()

    def delete_saved(self) -> None:
        self.saved_tab.delete_selected()


def _scrolling(page: QWidget) -> QScrollArea:
    """``page`` at its own minimum size, scrolled when the tab area is shorter (as the Options tab is)."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidget(page)
    return area

