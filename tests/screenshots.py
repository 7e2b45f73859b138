"""Render the README's screenshots from the real window: ``python -m tests.screenshots [OUTDIR]``.

Starts three regional Mosquittos bridged into a mesh (as the tests do), a simulator per region
and a replier on us-west, opens the window on all three with their regions, sends a request from
us-east through the request panel, and grabs the window at 1024×700 and 1920×1080 (offscreen).
Every process started here is stopped by its PID.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SIZES = ((1024, 700), (1920, 1080))


def main(argv: list[str]) -> int:
    import qasync
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from eventscope.core.demo.simulator import SimulatorRates, TrafficSimulator
    from eventscope.core.mqtt.session import MqttSession
    from eventscope.core.profile import ConnectionProfile
    from eventscope.core.profiles.store import StoredProfile
    from eventscope.core.requests.replier import Replier
    from eventscope.gui.app import create_application
    from eventscope.gui.context import AppContext
    from eventscope.gui.main_window import MainWindow
    from tests.conftest import MESH_REGIONS, MosquittoBroker, free_port, wait_until

    out = Path(argv[0] if argv else "resources/screenshots")
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="eventscope-shots-"))
    os.environ.setdefault("XDG_CONFIG_HOME", str(work / "config"))  # never the user's profiles
    os.environ.setdefault("XDG_DATA_HOME", str(work / "data"))
    brokers: dict[str, MosquittoBroker] = {}
    cleanup = []
    app = create_application()
    asyncio.set_event_loop(qasync.QEventLoop(app))
    try:
        hub = brokers[MESH_REGIONS[0]] = _broker(MosquittoBroker, work, 0, free_port(), "")
        for index, region in enumerate(MESH_REGIONS[1:], start=1):
            brokers[region] = _broker(MosquittoBroker, work, index, free_port(),
                                      f"connection {region}-to-hub\naddress 127.0.0.1:{hub.port}\n"
                                      "topic +/hello/# both 1\nbridge_protocol_version mqttv50\ncleansession true\n"
                                      "try_private true\nrestart_timeout 1\n")
        for region in MESH_REGIONS[1:]:
            wait_until(lambda r=region: f"{r}-to-hub" in hub.log_path.read_text(errors="replace"), timeout=15,
                       message=f"the {region} bridge")
        for region, broker in brokers.items():
            simulator = TrafficSimulator("127.0.0.1", broker.port, regions=(region,), rates=SimulatorRates(), seed=1)
            simulator.start()
            cleanup.append(simulator.stop)
        replier_session = MqttSession(ConnectionProfile(name="replier", host="127.0.0.1",
                                                        port=brokers["us-west"].port), buffer_messages=False)
        replier_session.start()
        replier_session.wait_connected(10)
        replier = Replier(replier_session, topic_filter="+/hello/request",
                          handler=lambda record: b'{"answer": "hello from us-west"}')
        replier.start().result(10)
        cleanup += [replier.stop, replier_session.stop]

        context = AppContext(QSettings(str(work / "settings.ini"), QSettings.IniFormat))
        window = MainWindow(context)
        window.show()
        for region, broker in brokers.items():
            window.open_stored_profile(StoredProfile(ConnectionProfile(name=region, host="127.0.0.1", port=broker.port),
                                                     region=region))
        _pump(app, 3.0)
        panel = window.request_panel
        panel.broker_combo.setCurrentText("us-east")
        panel.region_combo.setCurrentText("us-east")
        panel.payload_edit.setPlainText('{"greeting": "hi from the README"}')
        panel.send_button.click()
        _pump(app, 3.0)
        window.topic_tree.view.expandToDepth(1)  # each broker's regions
        for width, height in SIZES:
            window.resize(width, height)
            window.reset_layout()  # as a first start at this size lays it out
            _pump(app, 1.5)
            path = out / f"window-{width}x{height}.png"
            window.grab().save(str(path))
            print(f"{path}: {window.width()}×{window.height()}", flush=True)
        _details_and_pair(app, window, out)
        window.resize(1500, 950)
        window.reset_layout()
        window.audit_dock.raise_()
        _pump(app, 2.0)
        window.grab().save(str(out / "mesh.png"))
        print(f"{out / 'mesh.png'}: {window.width()}×{window.height()}", flush=True)
        window.close()
        context.shutdown()
    finally:
        for stop in reversed(cleanup):
            stop()
        for broker in brokers.values():
            broker.stop()
        QApplication.processEvents()
    return 0


def _details_and_pair(app, window, out: Path) -> None:
    """The details pane plotting a telemetry topic's fields, and the audit feed with a request and its reply
    linked (the request selected, its partner one key away)."""
    from eventscope.gui.models.audit_table_model import KIND_COLUMN, PAIR_COLUMN
    from eventscope.gui.views.details_pane import ALL_FIELDS

    window.resize(1920, 1080)
    window.reset_layout()
    _pump(app, 1.0)
    window.topic_tree.select_topic("us-east/orders/node-1/metrics")
    window.details_dock.raise_()
    pane = window.details_pane
    pane.tabs.setCurrentIndex(1)  # Plot
    pane.plot_field.setCurrentIndex(pane.plot_field.findData(ALL_FIELDS))
    pane.splitter.setSizes([70, 400])  # as a user drags it to look at the plot
    _pump(app, 2.0)
    window.details_dock.grab().save(str(out / "details-plot.png"))
    print(f"{out / 'details-plot.png'}", flush=True)
    window.audit_dock.raise_()
    _pump(app, 1.0)
    model, table = window.audit_feed.model, window.audit_feed.table
    for row in range(model.rowCount()):
        if model.index(row, KIND_COLUMN).data() == "request" and "reply #" in (model.index(row, PAIR_COLUMN).data() or ""):
            table.selectRow(row)
            table.setCurrentIndex(model.index(row, 0))
            break
    _pump(app, 0.5)
    window.audit_dock.grab().save(str(out / "audit-pair.png"))
    print(f"{out / 'audit-pair.png'}", flush=True)


def _broker(cls, work: Path, index: int, port: int, extra: str):
    workdir = work / f"mosquitto{index}"
    workdir.mkdir()
    broker = cls(port=port, workdir=workdir, extra_config="allow_anonymous true\nset_tcp_nodelay true\n" + extra)
    broker.start()
    return broker


def _pump(app, seconds: float) -> None:
    """Let the window run (Qt and the qasync loop its request slots need) for a while."""
    asyncio.get_event_loop().run_until_complete(asyncio.sleep(seconds))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
