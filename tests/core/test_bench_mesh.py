"""``eventscope bench mesh`` on real bridged Mosquittos: the RTT matrix, the hops, saving and comparing, refusals,
and a stopped run that leaves no replier behind."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess

import pytest

from eventscope.core.bench.mesh import MeshBroker, MeshPhase, MeshPlan, MeshRun
from eventscope.core.mqtt.session import MqttSession
from eventscope.core.profile import ConnectionProfile
from eventscope.core.profiles.store import ProfileStore, StoredProfile
from eventscope.core.requests.tracker import RequestTimeout, RequestTracker
from tests.conftest import free_port, wait_until
from tests.helpers.cli import run

PAIR_KEYS = {"from", "to", "sent", "lost", "p50_ms", "p99_ms"}
HOP_KEYS = {"from", "to", "p50_ms", "p99_ms", "samples"}
TWO = ("us-east", "us-west")


def brokers_args(mesh, regions=TWO) -> list[str]:
    return [arg for region in regions for arg in ("--broker", f"{region}=127.0.0.1:{mesh[region].port}")]


def bench_mesh(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    result = run("bench", "mesh", *args, timeout=timeout)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def by_pair(document: dict) -> dict[tuple[str, str], dict]:
    return {(item["from"], item["to"]): item for item in document["pairs"]}


def test_two_bridged_brokers_give_four_pairs_and_every_request_crosses_the_bridge(mosquitto_mesh, tmp_path):
    saved = tmp_path / "before.json"
    result = bench_mesh(*brokers_args(mosquitto_mesh), "--rate", "200", "--seconds", "1", "--format", "json",
                        "--save", str(saved))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == {"pairs", "hops"}
    assert all(PAIR_KEYS <= item.keys() for item in document["pairs"])
    assert all(HOP_KEYS <= item.keys() for item in document["hops"])
    pairs = by_pair(document)
    assert set(pairs) == {(a, b) for a in TWO for b in TWO}
    for (sender, answerer), pair in pairs.items():
        assert pair["lost"] == 0, pair
        assert 150 <= pair["sent"] <= 200, pair  # paced: 200 req/s for a second
        assert 0 < pair["p50_ms"] <= pair["p99_ms"], pair
    hops = {(item["from"], item["to"]): item for item in document["hops"]}
    assert set(hops) == {("us-east", "us-west"), ("us-west", "us-east")}
    for hop in hops.values():
        assert hop["samples"] >= 300, hop  # every request sent on one broker also crossed to the other
        assert 0 < hop["p50_ms"] <= hop["p99_ms"], hop
        # No timing is compared across pairs: a loopback bridge adds tenths of a millisecond, less than the
        # scheduling noise of a busy two-core machine (cross-pair p50s have come out below same-broker ones).
    assert json.loads(saved.read_text()) == document

    compared = bench_mesh(*brokers_args(mosquitto_mesh), "--rate", "200", "--count", "50", "--format", "json",
                          "--compare", str(saved))
    assert compared.returncode == 0, compared.stderr
    after = by_pair(json.loads(compared.stdout))
    assert set(after) == set(pairs)
    for key, pair in after.items():
        assert pair["p50_change_ms"] == pytest.approx(pair["p50_ms"] - pairs[key]["p50_ms"], abs=0.0015)
        assert pair["p99_change_ms"] == pytest.approx(pair["p99_ms"] - pairs[key]["p99_ms"], abs=0.0015)


def test_the_table_is_a_matrix_with_the_hops_and_the_change_since_a_saved_run(mosquitto_mesh, tmp_path):
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps({"pairs": [{"from": "us-east", "to": "us-west", "sent": 1, "lost": 0,
                                            "p50_ms": 1000.0, "p99_ms": 2000.0}], "hops": []}))
    result = bench_mesh(*brokers_args(mosquitto_mesh), "--rate", "200", "--count", "40", "--compare", str(saved))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.lstrip().startswith("sent on \\ answered on"))
    assert lines[header].split()[-2:] == list(TWO)
    cell = r"\d+\.\d+ / \d+\.\d+  0 lost"
    for offset, region in enumerate(TWO, 1):
        assert re.fullmatch(rf"  {region}\s+{cell}\s+{cell}", lines[header + offset]), lines[header + offset]
    assert re.search(r"us-east → us-west\s+p50 \d+\.\d+\s+p99 \d+\.\d+\s+\(\d+ samples\)", result.stdout)
    changes = lines[next(i for i, line in enumerate(lines) if line.startswith("change since")) + 2]
    # The saved run had 1,000 / 2,000 ms for us-east → us-west and nothing for us-east → us-east.
    east_to_west = re.findall(r"(\d+\.\d+) / (\d+\.\d+)  0 lost", lines[header + 1])[1]
    change = re.fullmatch(r"  us-east\s+not in the earlier run\s+(-\d+\.\d) / (-\d+\.\d)", changes)
    assert change is not None, changes
    assert float(change[1]) == pytest.approx(float(east_to_west[0]) - 1000.0, abs=0.11)
    assert float(change[2]) == pytest.approx(float(east_to_west[1]) - 2000.0, abs=0.11)


def test_read_only_refuses_and_nothing_is_published(mosquitto_factory):
    broker = mosquitto_factory("allow_anonymous true\nlog_type all\nconnection_messages true\n")
    flagged = bench_mesh("--read-only", "--broker", f"a=127.0.0.1:{broker.port}", "--count", "5")
    assert flagged.returncode == 2
    assert "a is read-only (monitor mode): bench mesh publishes" in flagged.stderr
    ProfileStore.load().put(StoredProfile(ConnectionProfile(name="watch", port=broker.port, read_only=True)))
    profiled = bench_mesh("--profile", "watch", "--broker", f"b=127.0.0.1:{broker.port}", "--count", "5")
    assert profiled.returncode == 2 and "watch is read-only" in profiled.stderr
    log = broker.log_path.read_text(errors="replace")
    assert "Received PUBLISH" not in log and "Received SUBSCRIBE" not in log


def test_unreachable_brokers_and_bad_input_are_clear_errors(mosquitto, tmp_path):
    port = free_port()  # nothing listens there
    unreachable = bench_mesh("--broker", f"up=127.0.0.1:{mosquitto.port}", "--broker", f"down=127.0.0.1:{port}",
                             "--count", "5")
    assert unreachable.returncode == 1
    assert f"down: Cannot connect to mqtt://127.0.0.1:{port}: Connection refused" in unreachable.stderr
    no_run = bench_mesh("--broker", f"a=127.0.0.1:{port}", "--topic-prefix", "bench/{region}")
    assert no_run.returncode == 2 and "needs {run}" in no_run.stderr
    bad_file = tmp_path / "not-results.json"
    bad_file.write_text('{"bench": "request"}')
    bad_compare = bench_mesh("--broker", f"a=127.0.0.1:{port}", "--compare", str(bad_file))
    assert bad_compare.returncode == 2 and "holds no mesh results" in bad_compare.stderr


def _ask(port: int, topic: str) -> str:
    """One request to ``topic`` from an independent session: "answered" or "no reply"."""
    session = MqttSession(ConnectionProfile(name="probe", port=port), buffer_messages=False)
    session.start()
    assert session.wait_connected(10)
    tracker = RequestTracker(session)
    try:
        asyncio.run(tracker.request(topic, b"anyone?", timeout=1.0))
        return "answered"
    except RequestTimeout:
        return "no reply"
    finally:
        tracker.close()
        session.stop()


def test_stop_ends_a_run_at_once_and_removes_its_repliers(mosquitto_mesh):
    brokers = [MeshBroker(region, ConnectionProfile(name=region, port=mosquitto_mesh[region].port)) for region in TWO]
    mesh = MeshRun(brokers, MeshPlan(rate=50, seconds=60)).start()
    try:
        wait_until(lambda: sum(p.replies for p in mesh.snapshot().pairs) >= 20, message="replies flowing")
        topic = mesh.topics.request_topic("us-east", "us-west")  # answered on us-west
        assert _ask(mosquitto_mesh["us-west"].port, topic) == "answered"  # the replier is there while it runs
        mesh.stop()
        assert mesh.wait(5)
    finally:
        mesh.stop()
        mesh.wait(10)
    snapshot = mesh.snapshot()
    assert snapshot.phase is MeshPhase.STOPPED and snapshot.cleaned_up and not snapshot.error
    assert snapshot.elapsed < 10
    assert all(p.lost == 0 and p.sent >= 1 for p in snapshot.pairs)  # abandoned in flight: not lost
    assert _ask(mosquitto_mesh["us-west"].port, topic) == "no reply"
