"""Bounded nesting for user data: JSON (or any decoded value) nested deeper than ``MAX_NESTING``
is refused with a clear reason instead of a ``RecursionError`` deep inside a parser or a printer."""

from __future__ import annotations

import json
from typing import Any

MAX_NESTING = 256  # real payloads nest a few levels; Python's parsers and printers give out near 1,000


class TooDeepError(ValueError):
    """A value nested deeper than ``MAX_NESTING`` levels."""


def _too_deep(limit: int) -> TooDeepError:
    return TooDeepError(f"nested deeper than {limit} levels")


def check_json_nesting(text: str, limit: int = MAX_NESTING) -> None:
    """Raise ``TooDeepError`` if the JSON text opens more than ``limit`` arrays and objects at once.

    A scan, not a parse: brackets inside strings do not count.
    """
    if text.count("[") + text.count("{") <= limit:
        return
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                raise _too_deep(limit)
        elif char in "]}":
            depth -= 1


def loads_json(text: str, limit: int = MAX_NESTING) -> Any:
    """``json.loads`` that refuses (``TooDeepError``, a ``ValueError``) what is nested deeper than ``limit``."""
    check_json_nesting(text, limit)
    return json.loads(text)


def check_value_nesting(value: Any, limit: int = MAX_NESTING) -> None:
    """Raise ``TooDeepError`` if lists and dicts in ``value`` nest deeper than ``limit`` (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > limit:
            raise _too_deep(limit)
        stack.extend((child, depth + 1) for child in children)
