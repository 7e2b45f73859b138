"""The window on the team audit (a real PostgreSQL): another region's recorder shows in the feed within a
second, through NOTIFY; and a read-only window on the viewer role never writes to the database."""

from __future__ import annotations

import subprocess
import time
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from eventscope.core.audit.postgres import init_schema
from eventscope.core.profile import ConnectionProfile
from eventscope.gui.views.audit_feed_view import STORE_KEY
from eventscope.gui.views.audit_store_dialog import AuditStoreDialog
from tests.gui.conftest import run_until
from tests.helpers.cli import EVENTSCOPE
from tests.helpers.postgres import recorder_process

PACED = 40  # requests, one every 50 ms


def _publisher(port: int) -> mqtt.Client:
    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def _request(client: mqtt.Client, i: int) -> None:
    props = Properties(PacketTypes.PUBLISH)
    props.CorrelationData = f"w{i}".encode()
    client.publish("us-west/hello/request", f"west {i}".encode(), qos=1, properties=props).wait_for_publish(10)


def _choose_team_store(qtbot, view, url: str) -> AuditStoreDialog:
    dialog = view.open_store_dialog()
    dialog.team_radio.click()  # the dialog opens window-modal; a click as the user gives it
    dialog.url_edit.setText(url)  # with its password in it, as a user might paste it
    dialog.accept()
    return dialog


@pytest.fixture
def team_db(pg_url):
    init_schema(pg_url)
    return pg_url


def test_another_regions_recorder_shows_in_the_feed_within_a_second(window, qloop, qtbot, mosquitto_factory,
                                                                     team_db):
    west = mosquitto_factory()
    view = window.audit_feed
    dialog = _choose_team_store(qtbot, view, team_db)
    password = urlsplit(team_db).password
    assert password and password not in dialog.location() and dialog.password() == password
    assert window.context.settings.value(STORE_KEY) == dialog.location()  # remembered, without the password
    assert view.team and view.tls_label.isVisible() and "not verified" in view.tls_label.text()
    assert password not in view.status_label.text() and "***" not in view.status_label.text()

    recorder = recorder_process(west.port, team_db, "us-west")
    appeared: dict[str, float] = {}

    def note_rows(_parent, first: int, last: int) -> None:
        for row in range(first, last + 1):
            audit_row = view.model.row(row)
            if audit_row is not None:
                appeared.setdefault(audit_row.payload.decode(), time.monotonic())

    view.model.rowsInserted.connect(note_rows)
    view.model.modelReset.connect(lambda: note_rows(None, 0, view.model.rowCount() - 1))
    client = _publisher(west.port)
    published: dict[str, float] = {}
    try:
        for i in range(PACED):  # a paced load: one request every 50 ms, each waited for by the event loop
            published[f"west {i}"] = time.monotonic()
            _request(client, i)
            deadline = time.monotonic() + 0.05
            run_until(qloop, lambda: time.monotonic() >= deadline, message="the pace")
        run_until(qloop, lambda: len(appeared) >= PACED, timeout=15, message="every row in the feed")
    finally:
        client.loop_stop()
        client.disconnect()
        recorder.terminate()
        recorder.communicate(timeout=30)
    lateness = [appeared[payload] - sent for payload, sent in published.items()]
    print(f"feed lateness over {PACED} rows: max {max(lateness) * 1000:.0f} ms")
    assert max(lateness) < 1.0, f"a row took {max(lateness):.2f} s to reach the feed"
    assert {view.model.row(r).broker for r in range(view.model.rowCount())} == {"us-west"}


def test_a_read_only_window_on_the_viewer_role_never_writes(window, qloop, qtbot, mosquitto_factory, team_db,
                                                            postgres, tmp_path):
    database = urlsplit(team_db).path.lstrip("/")
    subprocess.run([*EVENTSCOPE, "audit", "init-db", team_db, "--roles"], check=True, capture_output=True, timeout=60)
    postgres.admin("DO $$ BEGIN CREATE ROLE team_viewer LOGIN PASSWORD 'view'; "
                   "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    postgres.admin("GRANT eventscope_viewer TO team_viewer")
    broker = mosquitto_factory()
    recorder = recorder_process(broker.port, team_db, "us-west")  # the team's recorder writes; the window only reads
    context = window.context
    context.read_only = True  # what --read-only sets at start-up
    view = window.audit_feed
    try:
        view.use_store(postgres.url(database, user="team_viewer", password=None), "view")
        window.add_broker(ConnectionProfile(name="plant", host="127.0.0.1", port=broker.port))
        run_until(qloop, lambda: context.session is not None and context.session.is_connected, message="connected")
        client = _publisher(broker.port)
        for i in range(5):
            _request(client, i)
        client.loop_stop()
        client.disconnect()
        run_until(qloop, lambda: view.model.rowCount() == 5, timeout=15, message="the team's rows")
        # Everything the window offers around the audit: select, export, reconnect, choose the store again.
        view.table.selectRow(0)
        with qtbot.waitSignal(view.exportFinished, timeout=10000):
            view.export_to(tmp_path / "out.jsonl", "jsonl")
        context.disconnect("plant")
        context.reconnect("plant")
        view.use_store(postgres.url(database, user="team_viewer", password=None), "view")
        assert context.connection is None or context.connection.recorder is None  # a monitor never records
    finally:
        recorder.terminate()
        recorder.communicate(timeout=30)
    writes = [line for line in postgres.log().splitlines() if "team_viewer@" in line and "statement:" in line]
    assert writes == []
    # The log does record writes: the team's recorder's own.
    assert any("postgres@" in line and "COPY messages" in line for line in postgres.log().splitlines())
