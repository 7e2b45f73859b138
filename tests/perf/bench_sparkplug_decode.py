"""Sparkplug B DDATA decode throughput, in-process (no broker): what the decoder costs per message.

    python -m tests.perf.bench_sparkplug_decode [--messages 20000] [--devices 100] [--metrics 10]

Rows: the protobuf parse alone, the parse turned into plain values, the session state's
``observe`` (alias resolution, seq check, last values) and ``DecoderRules.observe`` (the CLI's
path). The issue's flood is 20k msg/s of DDATA over 100 devices: a row under that rate means the
decode cannot keep up on one core.
"""

from __future__ import annotations

import argparse
import time

from eventscope.core.decoding.rules import DecoderRule, DecoderRules
from eventscope.core.records import MessageRecord
from eventscope.core.sparkplug.payload import MetricValue, encode_payload, parse_payload, payload_to_dict
from eventscope.core.sparkplug.state import SparkplugState

TARGET_RATE = 20_000


def session(devices: int, metrics: int, messages: int) -> tuple[list[MessageRecord], list[MessageRecord]]:
    """(BIRTHs, DDATAs by alias) of one edge node per 10 devices."""
    births, data = [], []
    seqs: dict[str, int] = {}
    for device in range(devices):
        node = f"edge{device // 10}"
        if node not in seqs:
            births.append(MessageRecord(f"spBv1.0/bench/NBIRTH/{node}",
                                        encode_payload([MetricValue(0, "Int64", "bdSeq")], seq=0)))
            seqs[node] = 1
        births.append(MessageRecord(f"spBv1.0/bench/DBIRTH/{node}/dev{device}", encode_payload(
            [MetricValue(float(m), name=f"metric{m}", alias=m) for m in range(metrics)], seq=seqs[node])))
        seqs[node] += 1
    for i in range(messages):
        device = i % devices
        node = f"edge{device // 10}"
        payload = encode_payload([MetricValue(i * 0.5 + m, alias=m) for m in range(metrics)], seq=seqs[node] % 256)
        seqs[node] += 1
        data.append(MessageRecord(f"spBv1.0/bench/DDATA/{node}/dev{device}", payload))
    return births, data


def rate(function, records: list[MessageRecord]) -> float:
    start = time.perf_counter()
    for record in records:
        function(record)
    return len(records) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--metrics", type=int, default=10)
    args = parser.parse_args(argv)
    births, data = session(args.devices, args.metrics, args.messages)
    state = SparkplugState()
    rules = DecoderRules([DecoderRule("spBv1.0/#", "sparkplug")])
    for record in births:
        state.observe(record)
        rules.observe(record)
    rows = [("protobuf parse only", rate(lambda r: parse_payload(r.payload), data)),
            ("parse + plain values", rate(lambda r: payload_to_dict(parse_payload(r.payload)), data)),
            ("SparkplugState.observe", rate(state.observe, data)),
            ("DecoderRules.observe (text too)", rate(rules.observe, data))]
    print(f"{args.messages} DDATA over {args.devices} devices, {args.metrics} metrics each, by alias")
    print(f"{'path':<34}{'msg/s':>12}{'vs 20k/s':>10}")
    for name, measured in rows:
        print(f"{name:<34}{measured:>12,.0f}{measured / TARGET_RATE:>9.2f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
