"""A bench result as one JSON document (for scripts) or as a table (for people).

JSON keys are part of the interface: counts are plain numbers, rates are per second, latencies are
in ``latency_ms`` (``rtt_ms`` for requests) as ``{"p50", "p90", "p99", "p999", "max"}`` in
milliseconds (null when nothing was measured).
"""

from __future__ import annotations

import json
from typing import Any

from eventscope.core.bench.latency import LatencyRecorder, LatencySummary
from eventscope.core.bench.runner import BenchResult, PublishOutcome, ReceiveOutcome
from eventscope.core.bench.sequence import StreamCounts


def _rate(value: float) -> float:
    return round(value, 1)


def latencies(result: BenchResult) -> LatencyRecorder:
    """The histogram a result reports (and ``--out`` writes): end to end, publish to ack, or RTT."""
    if result.requests is not None:
        return result.requests.rtt
    if result.receive is not None:
        return result.receive.latency()
    if result.publish is not None:
        return result.publish.ack_latency()
    return LatencyRecorder()


def _publish_keys(outcome: PublishOutcome) -> dict[str, Any]:
    ceiling = outcome.ceiling
    return {
        "send_rate": _rate(outcome.send_rate),
        "offered_rate": outcome.offered_rate or None,
        "reached": ceiling.reached,
        "limit": ceiling.limit,
        "publisher_busy": round(ceiling.busy, 3),
        "publisher_blocked": round(ceiling.blocked, 3),
        "publisher_cpu": round(ceiling.cpu, 3),
        "max_lag_ms": round(outcome.max_lag * 1e3, 3),
        "publishers": len(outcome.stats),
        "qos": outcome.plans[0].qos if outcome.plans else 0,
        "size": outcome.plans[0].size if outcome.plans else 0,
    }


def _receive_keys(outcome: ReceiveOutcome, counts: StreamCounts) -> dict[str, Any]:
    return {
        "received": counts.received,
        "lost": counts.lost,
        "duplicates": counts.duplicates,
        "reordered": counts.reordered,
        "rate": _rate(outcome.rate),
        "gaps": counts.gaps,
        "unique": counts.unique,
        "subscribers": len(outcome.subscribers),
        "foreign": outcome.foreign,
        "retained_ignored": outcome.retained_ignored,
        "reconnects": outcome.reconnects,
    }


def as_dict(result: BenchResult) -> dict[str, Any]:
    recorder = latencies(result)
    summary = recorder.summary()
    document: dict[str, Any] = {"bench": result.kind}
    if result.kind == "pub" and result.publish is not None:
        publish = result.publish
        stats = publish.stats
        document |= {"sent": publish.sent, "rate": _rate(publish.send_rate), **_publish_keys(publish),
                     "acked": sum(s.completed for s in stats), "refused": sum(s.refused for s in stats),
                     "latency_ms": summary.as_dict()}
    elif result.kind == "sub" and result.receive is not None:
        document |= {**_receive_keys(result.receive, result.receive.counts), "latency_ms": summary.as_dict()}
    elif result.kind == "pubsub" and result.publish is not None and result.receive is not None:
        document |= {"sent": result.publish.sent, **_receive_keys(result.receive, result.receive.counts),
                     "latency_ms": summary.as_dict(), **_publish_keys(result.publish)}
    elif result.kind == "request" and result.requests is not None and result.request_plan is not None:
        requests, plan = result.requests, result.request_plan
        document |= {"sent": requests.sent, "replies": requests.replies, "timeouts": requests.timeouts,
                     "failed": requests.errors,
                     "rate": _rate(requests.replies / requests.elapsed if requests.elapsed > 0 else 0.0),
                     "offered_rate": plan.rate or None, "concurrency": plan.concurrency,
                     "rtt_ms": summary.as_dict()}
    document |= {
        "seconds": round(result.seconds, 3),
        "latency_corrected": recorder.corrected > 0,
        "latency_samples": recorder.samples,
        "interrupted": result.interrupted,
        "errors": result.errors + ([result.requests.first_error] if result.requests and result.requests.first_error
                                   else []),
        **{f"{name}_per_second": counts for name, counts in result.per_second.items()},
    }
    return document


def as_json(result: BenchResult) -> str:
    return json.dumps(as_dict(result), indent=2)


# ----- the table -----------------------------------------------------------------------

def _number(value: float) -> str:
    return f"{value:,.0f}"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _latency_line(summary: LatencySummary) -> str:
    if not summary.count:
        return "none measured"
    return (f"p50 {_ms(summary.p50)}  p90 {_ms(summary.p90)}  p99 {_ms(summary.p99)}  "
            f"p99.9 {_ms(summary.p999)}  max {_ms(summary.max)}  (ms)")


def _per_second_line(counts: list[int]) -> str:
    if not counts:
        return "under a second: no full second to show"
    return (f"min {_number(min(counts))}  mean {_number(sum(counts) / len(counts))}  "
            f"max {_number(max(counts))} msg/s over {len(counts)} s")


def as_table(result: BenchResult) -> str:
    document = as_dict(result)
    rows: list[tuple[str, str]] = []
    summary = latencies(result).summary()
    corrected = " (corrected for coordinated omission)" if document["latency_corrected"] and summary.count else ""
    publish, receive = result.publish, result.receive
    if publish is not None:
        plan = publish.plans[0] if publish.plans else None
        if plan is not None:
            rows.append(("publishers", f"{len(publish.stats)} x QoS {plan.qos}, {plan.size} B payloads"
                                       + (", retained" if plan.retain else "")))
        rows.append(("offered rate", f"{_number(publish.offered_rate)} msg/s" if publish.offered_rate
                     else "flat out (--rate 0)"))
        rows.append(("sent", f"{_number(publish.sent)} in {publish.elapsed:.2f} s"))
        rows.append(("send rate", f"{_number(publish.send_rate)} msg/s (the publishers' own)"))
        rows.append(("sent per second", _per_second_line(result.per_second.get("sent", []))))
        if plan is not None and plan.qos:
            rows.append(("acknowledged", _number(sum(s.completed for s in publish.stats))))
        if publish.max_lag > 0.02:
            rows.append(("behind schedule", f"up to {publish.max_lag * 1e3:.0f} ms"))
        rows.append(("limit", publish.ceiling.text))
    if receive is not None:
        rows.append(("subscribers", f"{len(receive.subscribers)} on {receive.subscribers[0].topic_filter}"
                     if receive.subscribers else "0"))
        rows.append(("received", f"{_number(document['received'])} ({_number(document['rate'])} msg/s)"))
        rows.append(("received per second", _per_second_line(result.per_second.get("received", []))))
        rows.append(("lost", f"{_number(document['lost'])}" + (f" in {document['gaps']} gap(s)" if document["gaps"]
                                                                 else "")))
        rows.append(("duplicates", _number(document["duplicates"])))
        rows.append(("reordered", _number(document["reordered"])))
        if receive.reconnects:
            rows.append(("reconnects", _number(receive.reconnects)))
        if receive.foreign or receive.retained_ignored:
            rows.append(("not counted", f"{receive.foreign} without a bench header, "
                                        f"{receive.retained_ignored} retained"))
        rows.append(("latency", _latency_line(summary) + corrected))
    elif publish is not None and publish.plans and publish.plans[0].qos:
        rows.append(("publish to ack", _latency_line(summary) + corrected))
    if result.requests is not None and result.request_plan is not None:
        requests, plan = result.requests, result.request_plan
        rows.append(("requests", f"{_number(requests.sent)} to {plan.topic}, concurrency {plan.concurrency}"))
        rows.append(("offered rate", f"{_number(plan.rate)} req/s" if plan.rate else "as fast as replies come"))
        rows.append(("replies", f"{_number(requests.replies)} ({_number(document['rate'])} req/s)"))
        rows.append(("timeouts", f"{_number(requests.timeouts)} (no reply within {plan.timeout:g} s)"))
        if requests.errors:
            rows.append(("failed", f"{_number(requests.errors)}: {requests.first_error}"))
        rows.append(("rtt", _latency_line(summary) + corrected))
    rows.append(("run", f"{result.seconds:.2f} s" + (" (interrupted)" if result.interrupted else "")))
    for message in document["errors"]:
        rows.append(("error", message))
    width = max(len(label) for label, _ in rows)
    title = f"eventscope bench {result.kind}"
    return "\n".join([title, *(f"  {label.ljust(width)}  {value}" for label, value in rows)])
