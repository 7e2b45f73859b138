"""Clearing retained messages: an empty retained publish per topic (QoS 1, so the broker confirms)."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field

from eventscope.core.mqtt.session import ReadOnlyError, SessionBase


@dataclass(slots=True)
class RetainedClear:
    """One clear operation in flight: a future per topic, and the outcome once all are done."""

    futures: dict[str, Future] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # topics that could not even be sent

    @property
    def done(self) -> bool:
        return all(f.done() for f in self.futures.values())

    @property
    def cleared(self) -> list[str]:
        return [t for t, f in self.futures.items() if f.done() and f.exception() is None]

    @property
    def failed(self) -> dict[str, str]:
        out = dict(self.errors)
        for topic, future in self.futures.items():
            if future.done() and future.exception() is not None:
                out[topic] = str(future.exception())
        return out

    def summary(self) -> str:
        cleared, failed = len(self.cleared), self.failed
        text = f"Cleared {cleared} retained message{'s' if cleared != 1 else ''}"
        if failed:
            first_topic, reason = next(iter(failed.items()))
            text += f"; {len(failed)} failed (first: {first_topic}: {reason})"
        return text


def clear_retained(session: SessionBase, topics: Iterable[str]) -> RetainedClear:
    """Start clearing ``topics``; never blocks. Raises ``ReadOnlyError`` for a read-only session."""
    operation = RetainedClear()
    for topic in topics:
        try:
            operation.futures[topic] = session.publish(topic, b"", qos=1, retain=True)
        except ReadOnlyError:
            raise
        except Exception as exc:  # e.g. disconnected meanwhile: report it per topic
            operation.errors[topic] = str(exc)
    return operation
