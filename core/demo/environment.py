"""The embedded demo: a broker Eventscope owns, simulated multi-region traffic, and a replier."""

from __future__ import annotations

import logging

from eventscope.core.demo.embedded_broker import EmbeddedBroker
from eventscope.core.demo.simulator import TrafficSimulator
from eventscope.core.mqtt.session import MqttSession
from eventscope.core.profile import ConnectionProfile

log = logging.getLogger(__name__)


class DemoEnvironment:
    """Start and stop everything ``eventscope --demo`` runs besides the window."""

    def __init__(self, broker_port: int | None = None, backend: str = "auto") -> None:
        self.broker = EmbeddedBroker(port=broker_port, backend=backend)
        self.simulator: TrafficSimulator | None = None
        self.replier = None
        self._replier_session: MqttSession | None = None

    def start(self) -> DemoEnvironment:
        self.broker.start()
        try:
            self._start_replier()
            self.simulator = TrafficSimulator(self.broker.host, self.broker.port)
            self.simulator.start()
        except Exception:
            self.stop()
            raise
        return self

    def _start_replier(self) -> None:
        from eventscope.core.requests.replier import Replier, demo_reply_handler

        profile = ConnectionProfile(name="demo-replier", host=self.broker.host, port=self.broker.port,
                                    client_id="eventscope-demo-replier")
        self._replier_session = MqttSession(profile, session_id="demo-replier", buffer_messages=False)
        self._replier_session.start()
        if not self._replier_session.wait_connected(10):
            raise ConnectionError(f"demo replier cannot connect: {self._replier_session.status.text}")
        self.replier = Replier(self._replier_session, handler=demo_reply_handler)
        self.replier.start()

    def stop(self) -> None:
        if self.simulator is not None:
            self.simulator.stop()
            self.simulator = None
        if self.replier is not None:
            self.replier.stop()
            self.replier = None
        if self._replier_session is not None:
            self._replier_session.stop()
            self._replier_session = None
        self.broker.stop()

    def __enter__(self) -> DemoEnvironment:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
