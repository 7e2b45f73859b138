"""``eventscope broker`` runs the embedded broker headless and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys

import paho.mqtt.client as mqtt

from tests.conftest import free_port, wait_for_port


def test_broker_command_serves_mqtt_and_stops_on_sigterm():
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "eventscope", "broker", "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith(f"Embedded broker: mqtt://127.0.0.1:{port}")
        wait_for_port(port)
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        assert client.connect("127.0.0.1", port) == mqtt.MQTT_ERR_SUCCESS
        client.disconnect()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
    assert process.returncode == 0


def test_broker_command_reports_a_busy_port():
    port = free_port()
    first = subprocess.Popen([sys.executable, "-m", "eventscope", "broker", "--port", str(port)],
                             stdout=subprocess.PIPE, text=True)
    try:
        first.stdout.readline()
        second = subprocess.run([sys.executable, "-m", "eventscope", "broker", "--port", str(port)],
                                capture_output=True, text=True, timeout=30)
        assert second.returncode == 1
        assert str(port) in second.stderr
    finally:
        first.terminate()
        first.wait(15)
