"""The one owner of every broker's subscriptions: the user's own filters, and the ones tools hold.

A broker's session is subscribed to the union of both. The two are kept apart so that neither can
take away the other's: a tool letting go of ``$SYS/#`` leaves it subscribed when the user has it too,
and the user removing a filter a tool still holds only stops it being the user's. Both outlive a
disconnect: a broker connected again is subscribed to what was wanted before. Only the user's
filters are saved with the broker (a restart brings them back; tools hold theirs again when opened).

Views never subscribe a session themselves; they go through this owner (the workspace has one).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future

from eventscope.core.mqtt.session import SessionBase
from eventscope.core.topics import validate_filter


def _done(value: object = None) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


class Subscriptions:
    """Per broker: the user's filters (with QoS), tool holds (counted), and the live session, if any."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # a refused SUBACK comes back on paho's thread
        self._user: dict[str, dict[str, int]] = {}
        self._holds: dict[str, dict[str, int]] = {}
        self._sessions: dict[str, SessionBase] = {}

    # ----- what is wanted -------------------------------------------------------------------
    def user_filters(self, broker_id: str) -> dict[str, int]:
        """The user's own filters on ``broker_id`` and their QoS (what is saved and restored)."""
        with self._lock:
            return dict(self._user.get(broker_id, {}))

    def held_filters(self, broker_id: str) -> set[str]:
        """Filters that tools hold on ``broker_id``, the user's or not."""
        with self._lock:
            return set(self._holds.get(broker_id, {}))

    def wanted(self, broker_id: str) -> tuple[tuple[str, int], ...]:
        """Every filter the broker's session should have: the user's, then the tools' (QoS 0)."""
        with self._lock:
            user = self._user.get(broker_id, {})
            held = [(f, 0) for f in self._holds.get(broker_id, {}) if f not in user]
            return tuple(user.items()) + tuple(held)

    def is_subscribed(self, broker_id: str, topic_filter: str) -> bool:
        """Whether the user or a tool wants ``topic_filter`` on ``broker_id``."""
        with self._lock:
            return topic_filter in self._user.get(broker_id, {}) or topic_filter in self._holds.get(broker_id, {})

    def set_user_filters(self, broker_id: str, pairs) -> None:
        """The user's filters as saved (opening or restoring a broker); not sent to a session."""
        with self._lock:
            self._user[broker_id] = {str(f): int(q) for f, q in pairs}

    # ----- the broker's session --------------------------------------------------------------
    def attach(self, broker_id: str, session: SessionBase) -> None:
        """The broker's session is open (it was opened with ``wanted``): later changes go to it."""
        with self._lock:
            self._sessions[broker_id] = session

    def detach(self, broker_id: str) -> None:
        """The broker disconnected: keep what is wanted for the next connection."""
        with self._lock:
            self._sessions.pop(broker_id, None)

    def forget(self, broker_id: str) -> None:
        """The broker is gone from the workspace."""
        with self._lock:
            self._sessions.pop(broker_id, None)
            self._user.pop(broker_id, None)
            self._holds.pop(broker_id, None)

    # ----- the user's commands ---------------------------------------------------------------
    def subscribe(self, broker_id: str, topic_filter: str, qos: int = 0) -> Future:
        """Make ``topic_filter`` the user's. Raises ``TopicError`` for a bad filter; a refused SUBACK
        fails the future and the filter is not kept. Without a session it is kept for the next one."""
        validate_filter(topic_filter)
        with self._lock:
            user = self._user.setdefault(broker_id, {})
            had = user.get(topic_filter)
            user[topic_filter] = qos
            session = self._sessions.get(broker_id)
        if session is None:
            return _done()
        future = session.subscribe(topic_filter, qos)

        def refused(f: Future) -> None:
            if f.exception() is not None:
                with self._lock:
                    filters = self._user.get(broker_id, {})
                    if filters.get(topic_filter) == qos:
                        if had is None:
                            filters.pop(topic_filter, None)
                        else:
                            filters[topic_filter] = had

        future.add_done_callback(refused)
        return future

    def unsubscribe(self, broker_id: str, topic_filter: str) -> Future:
        """The user drops ``topic_filter``; the session keeps it while a tool still holds it."""
        with self._lock:
            self._user.get(broker_id, {}).pop(topic_filter, None)
            held = topic_filter in self._holds.get(broker_id, {})
            session = self._sessions.get(broker_id)
        if session is None or held:
            return _done()
        return session.unsubscribe(topic_filter)

    # ----- tools -----------------------------------------------------------------------------
    def hold(self, broker_id: str, topic_filter: str) -> Future:
        """A tool (a $ stream tab, the $SYS view) needs ``topic_filter``. Pair with ``release``."""
        validate_filter(topic_filter)
        with self._lock:
            holds = self._holds.setdefault(broker_id, {})
            first = topic_filter not in holds and topic_filter not in self._user.get(broker_id, {})
            holds[topic_filter] = holds.get(topic_filter, 0) + 1
            session = self._sessions.get(broker_id)
        if first and session is not None:
            return session.subscribe(topic_filter)
        return _done()

    def release(self, broker_id: str, topic_filter: str) -> Future:
        """A tool lets go; the last one to do so unsubscribes, unless the filter is the user's."""
        with self._lock:
            holds = self._holds.get(broker_id, {})
            count = holds.get(topic_filter, 0)
            if count == 0:
                return _done()
            if count > 1:
                holds[topic_filter] = count - 1
                return _done()
            del holds[topic_filter]
            session = None if topic_filter in self._user.get(broker_id, {}) else self._sessions.get(broker_id)
        return session.unsubscribe(topic_filter) if session is not None else _done()
