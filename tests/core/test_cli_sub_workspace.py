"""``eventscope sub`` runs on the ``Workspace``: it prints the records the workspace's ticks hand over, and closes it."""

from __future__ import annotations

import signal
import subprocess

from eventscope.core.workspace.workspace import Workspace
from eventscope.launcher import build_parser


def test_sub_prints_what_the_workspace_ticks_merged_and_closes_it(mosquitto, mosquitto_pub, monkeypatch,
                                                                  capsysbinary):
    subprocess.run([mosquitto_pub, "-p", str(mosquitto.port), "-q", "1", "-r", "-t", "ws/a", "-m", "kept"],
                   check=True, timeout=10)
    workspaces: list[Workspace] = []
    records = []
    real_init, real_tick = Workspace.__init__, Workspace.tick

    def init(self, *args, **kwargs) -> None:
        real_init(self, *args, **kwargs)
        workspaces.append(self)

    def tick(self, *args, **kwargs):
        summary = real_tick(self, *args, **kwargs)
        records.extend(summary.records)
        return summary

    monkeypatch.setattr(Workspace, "__init__", init)
    monkeypatch.setattr(Workspace, "tick", tick)
    args = build_parser().parse_args(["sub", "-p", str(mosquitto.port), "-t", "ws/#", "-C", "1", "-v"])
    previous = signal.getsignal(signal.SIGTERM)  # sub takes SIGTERM over, as a command's process may
    try:
        code = args.run(args)
    finally:
        signal.signal(signal.SIGTERM, previous)
    captured = capsysbinary.readouterr()
    assert code == 0, captured.err
    assert captured.out == b"ws/a kept\n"
    assert b"subscribed to ws/#" in captured.err
    [workspace] = workspaces
    # The printed message is the one a tick merged, from the broker the command line named.
    assert [(r.broker_id, r.topic, r.payload, r.retain) for r in records] == [
        (f"127.0.0.1:{mosquitto.port}", "ws/a", b"kept", True)]
    assert not workspace.keep_tree and len(workspace.tree) == 0  # sub keeps no topic tree
    assert workspace.brokers == {}  # closed: every broker disconnected
