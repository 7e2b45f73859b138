"""A mesh run's results: the JSON document (printed, saved, compared) and the matrix for people.

The document is ``{"pairs": [...], "hops": [...]}`` and nothing else at the top. Each pair has
``from`` (sent on), ``to`` (answered on), ``sent``, ``lost``, ``p50_ms`` and ``p99_ms``; each hop
``from``, ``to``, ``p50_ms``, ``p99_ms`` and ``samples``. Other keys inside the items are extras
(more percentiles, counts, and after a comparison ``p50_change_ms`` / ``p99_change_ms``).
Latencies are in milliseconds, null when nothing was measured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventscope.core.bench.hops import HopSummary
from eventscope.core.bench.mesh import MeshPhase, MeshPlan, MeshSnapshot
from eventscope.core.bench.mesh_pair import PairResult

Pair = tuple[str, str]  # (sent on, answered on)


class MeshResultsError(ValueError):
    """A saved results file that cannot be read or is not a mesh run's; the message says why."""


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def pair_item(pair: PairResult) -> dict[str, Any]:
    rtt = pair.rtt
    return {"from": pair.sender, "to": pair.answerer, "sent": pair.sent, "lost": pair.lost,
            "p50_ms": _rounded(rtt.p50), "p99_ms": _rounded(rtt.p99),
            "replies": pair.replies, "timeouts": pair.timeouts, "failed": pair.failed, "in_flight": pair.in_flight,
            "p90_ms": _rounded(rtt.p90), "p999_ms": _rounded(rtt.p999), "max_ms": _rounded(rtt.max),
            "rtt_samples": pair.samples}


def hop_item(hop: HopSummary) -> dict[str, Any]:
    latency = hop.latency
    return {"from": hop.sender, "to": hop.receiver, "p50_ms": _rounded(latency.p50), "p99_ms": _rounded(latency.p99),
            "samples": hop.samples, "p90_ms": _rounded(latency.p90), "max_ms": _rounded(latency.max)}


@dataclass(frozen=True)
class Change:
    """How a pair's RTT moved since an earlier run (ms; None where either run measured nothing)."""

    p50: float | None
    p99: float | None


def _difference(now: float | None, before: float | None) -> float | None:
    return None if now is None or before is None else round(now - before, 3)


def as_document(snapshot: MeshSnapshot, changes: dict[Pair, Change] | None = None) -> dict[str, Any]:
    pairs = []
    for pair in snapshot.pairs:
        item = pair_item(pair)
        if changes is not None:
            change = changes.get((pair.sender, pair.answerer))
            item["p50_change_ms"] = change.p50 if change else None
            item["p99_change_ms"] = change.p99 if change else None
        pairs.append(item)
    return {"pairs": pairs, "hops": [hop_item(hop) for hop in snapshot.hops]}


def as_json(snapshot: MeshSnapshot, changes: dict[Pair, Change] | None = None) -> str:
    return json.dumps(as_document(snapshot, changes), indent=2)


# ----- saving and comparing ---------------------------------------------------------------------

def save(snapshot: MeshSnapshot, path: str | Path) -> None:
    """Write the run's document (as ``--format json`` prints it); raises ``OSError``."""
    Path(path).write_text(as_json(snapshot) + "\n", encoding="utf-8")


def load_rtts(path: str | Path) -> dict[Pair, tuple[float | None, float | None]]:
    """Each pair's (p50, p99) from a saved document; raises ``MeshResultsError``."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise MeshResultsError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise MeshResultsError(f"{path} is not JSON: {exc}") from None
    pairs = document.get("pairs") if isinstance(document, dict) else None
    if not isinstance(pairs, list):
        raise MeshResultsError(f"{path} holds no mesh results (no \"pairs\" list): save one with --save")
    found: dict[Pair, tuple[float | None, float | None]] = {}
    for item in pairs:
        try:
            found[(str(item["from"]), str(item["to"]))] = (_number(item.get("p50_ms")), _number(item.get("p99_ms")))
        except (KeyError, TypeError, ValueError):
            raise MeshResultsError(f"{path}: a pair without \"from\" and \"to\", or with a latency that is not "
                                   f"a number: {item!r}") from None
    return found


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(value)
    return float(value)


def compare(snapshot: MeshSnapshot, earlier: dict[Pair, tuple[float | None, float | None]]) -> dict[Pair, Change]:
    """The change in p50 and p99 of every pair both runs measured."""
    changes = {}
    for pair in snapshot.pairs:
        before = earlier.get((pair.sender, pair.answerer))
        if before is not None:
            changes[(pair.sender, pair.answerer)] = Change(_difference(pair.rtt.p50, before[0]),
                                                           _difference(pair.rtt.p99, before[1]))
    return changes


# ----- the matrix ---------------------------------------------------------------------------------

def ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def signed_ms(value: float | None) -> str:
    return "n/a" if value is None else ("+" if value >= 0 else "-") + ms(abs(value))


def lost_text(pair: PairResult) -> str:
    if not pair.lost:
        return "0 lost"
    return f"{pair.lost:,} lost ({pair.loss:.1%})"


def rtt_text(pair: PairResult) -> str:
    return f"{ms(pair.rtt.p50)} / {ms(pair.rtt.p99)}"


def _matrix(brokers: tuple[str, ...], cell, corner: str) -> list[str]:
    rows = [[corner, *brokers]] + [[sender, *(cell(sender, answerer) for answerer in brokers)] for sender in brokers]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return ["  " + "   ".join(text.ljust(width) for text, width in zip(row, widths)).rstrip() for row in rows]


def _settings(plan: MeshPlan, snapshot: MeshSnapshot) -> str:
    rate = f"{plan.rate:g} req/s" if plan.rate else "as fast as replies come"
    end = [f"{plan.seconds:g} s"] if plan.seconds is not None else []
    end += [f"{plan.count:,} requests"] if plan.count is not None else []
    brokers = len(snapshot.brokers)
    return (f"{brokers} broker{'s' if brokers != 1 else ''}, {len(snapshot.pairs)} pairs at once, each {rate} for "
            f"{' or '.join(end)} (concurrency {plan.concurrency}, QoS {plan.qos}, {plan.size} B), run {snapshot.run_id}")


def as_table(snapshot: MeshSnapshot, plan: MeshPlan, changes: dict[Pair, Change] | None = None,
             compared_with: str = "") -> str:
    brokers = snapshot.brokers
    lines = [f"eventscope bench mesh: {_settings(plan, snapshot)}"]
    if snapshot.phase is MeshPhase.STOPPED:
        lines.append(f"stopped after {snapshot.elapsed:.1f} s: requests in flight then are counted neither sent nor lost")
    lines += ["", "RTT p50 / p99 (ms) and requests lost; row: sent on, column: answered on"]

    def cell(sender: str, answerer: str) -> str:
        pair = snapshot.pair(sender, answerer)
        return "-" if pair is None else f"{rtt_text(pair)}  {lost_text(pair)}"

    lines += _matrix(brokers, cell, "sent on \\ answered on")
    if snapshot.hops:
        lines += ["", "one-way hop latency (ms): the same request's arrival on one broker, then on another"]
        width = max(len(f"{h.sender} → {h.receiver}") for h in snapshot.hops)
        for hop in snapshot.hops:
            label = f"{hop.sender} → {hop.receiver}".ljust(width)
            if hop.samples:
                lines.append(f"  {label}  p50 {ms(hop.latency.p50)}  p99 {ms(hop.latency.p99)}  "
                             f"({hop.samples:,} samples)")
            else:
                lines.append(f"  {label}  never seen there (no bridge carries the namespace that way)")
    unanswered = [p for p in snapshot.pairs if p.sent and not p.replies]
    if unanswered:
        lines += ["", "no replies at all for " + ", ".join(f"{p.sender} → {p.answerer}" for p in unanswered)
                  + f": do the bridges carry the run's topics? (--topic-prefix, now {plan.topic_prefix})"]
    errors = sorted({p.first_error for p in snapshot.pairs if p.first_error})
    lines += [f"error: {text}" for text in errors]
    if changes is not None:
        lines += ["", f"change since {compared_with or 'the earlier run'}: p50 / p99 (ms)"]

        def change_cell(sender: str, answerer: str) -> str:
            change = changes.get((sender, answerer))
            return "not in the earlier run" if change is None else f"{signed_ms(change.p50)} / {signed_ms(change.p99)}"

        lines += _matrix(brokers, change_cell, "sent on \\ answered on")
    return "\n".join(lines)
