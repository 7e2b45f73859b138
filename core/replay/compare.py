"""Comparing a reply with the recorded one: JSON-aware (key order ignored), compact, the paths that differ."""

from __future__ import annotations

import json
from dataclasses import dataclass

MAX_DIFFERENCES = 20  # paths listed per reply; the rest are counted


@dataclass(frozen=True, slots=True)
class ReplyDiff:
    same: bool
    differences: tuple[str, ...] = ()  # e.g. "changed $.status: \"ok\" → \"error\"", "added $.extra"
    more: int = 0  # differences beyond the ones listed

    def text(self) -> str:
        if self.same:
            return "same"
        return "; ".join(self.differences) + (f"; {self.more} more" if self.more else "")


def _json(payload: bytes):
    try:
        return json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return _NOT_JSON


_NOT_JSON = object()


def _short(value) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 40 else text[:37] + "…"


def _walk(before, after, path: str, out: list[str]) -> None:
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after)):
            sub = f"{path}.{key}"
            if key not in after:
                out.append(f"removed {sub}")
            elif key not in before:
                out.append(f"added {sub}")
            else:
                _walk(before[key], after[key], sub, out)
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for index, (b, a) in enumerate(zip(before, after)):
            _walk(b, a, f"{path}[{index}]", out)
    elif before != after or type(before) is not type(after):
        out.append(f"changed {path}: {_short(before)} → {_short(after)}")


def compare_replies(recorded: bytes, now: bytes) -> ReplyDiff:
    """The recorded reply against today's: equal JSON values are the same whatever their key order."""
    if recorded == now:
        return ReplyDiff(True)
    before, after = _json(recorded), _json(now)
    if before is _NOT_JSON or after is _NOT_JSON:
        return ReplyDiff(False, (f"payload {len(recorded)} B → {len(now)} B",))
    differences: list[str] = []
    _walk(before, after, "$", differences)
    if not differences:
        return ReplyDiff(True)
    return ReplyDiff(False, tuple(differences[:MAX_DIFFERENCES]), max(0, len(differences) - MAX_DIFFERENCES))
