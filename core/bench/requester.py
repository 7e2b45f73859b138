"""Correlated request/reply under load, through the request tracker (``core/requests/tracker.py``).

``concurrency`` workers each send a request and wait for its reply (or its timeout) before the
next. At a fixed total ``rate`` each worker sends on its own schedule, one request every
``concurrency / rate`` seconds; a reply slower than that delays the worker's next request, which is
coordinated omission, so RTTs are recorded with the correction for that interval. Without a rate
the workers go as fast as the replies come back.

The tracker needs an asyncio loop; ``RequestLoad`` runs one in its own thread, so the caller's
thread stays free to show progress.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from dataclasses import dataclass, field

from eventscope.core.bench.latency import LatencyRecorder, microseconds
from eventscope.core.requests.tracker import RequestError, RequestRefused, RequestTimeout, RequestTracker

STOP_CHECK_SECONDS = 0.25  # a worker waiting for its next slot looks at the stop flag this often


@dataclass(frozen=True)
class RequestPlan:
    topic: str
    payload: bytes
    rate: float = 0.0  # requests/s over all workers; 0 = as fast as replies come back
    concurrency: int = 1
    count: int | None = None
    seconds: float | None = None
    timeout: float = 5.0
    qos: int = 0
    reply_topic: str | None = None

    @property
    def worker_interval(self) -> float:
        """Seconds between one worker's requests at the fixed rate (0 without one)."""
        return self.concurrency / self.rate if self.rate > 0 else 0.0


@dataclass
class RequestStats:
    sent: int = 0
    replies: int = 0
    timeouts: int = 0
    errors: int = 0
    first_error: str = ""
    started: float = 0.0  # perf_counter
    finished: float = 0.0
    rtt: LatencyRecorder = field(default_factory=LatencyRecorder)

    @property
    def elapsed(self) -> float:
        return max(0.0, self.finished - self.started)


class RequestLoad:
    """Runs a ``RequestPlan`` through ``tracker`` in a thread of its own (``start``, ``join``, ``stop``)."""

    def __init__(self, tracker: RequestTracker, plan: RequestPlan, stop: threading.Event | None = None) -> None:
        if plan.concurrency < 1:
            raise ValueError("the concurrency must be at least 1")
        self.tracker = tracker
        self.plan = plan
        self.stats = RequestStats()
        self.refused: RequestRefused | None = None
        self._stop = stop if stop is not None else threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-requests", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            asyncio.run(self._all_workers())
        except RequestRefused as exc:
            self.refused = exc
        finally:
            self.stats.finished = time.perf_counter()

    async def _all_workers(self) -> None:
        plan = self.plan
        self.stats.started = time.perf_counter()
        deadline = self.stats.started + plan.seconds if plan.seconds else math.inf
        await asyncio.gather(*(self._worker(index, deadline) for index in range(plan.concurrency)))

    async def _worker(self, index: int, deadline: float) -> None:
        plan, stats = self.plan, self.stats
        interval = plan.worker_interval
        interval_us = microseconds(interval)
        start = stats.started
        turn = 0
        while not self._stop.is_set():
            if interval:
                due = start + (turn * plan.concurrency + index) / plan.rate
                while (wait := due - time.perf_counter()) > 0 and not self._stop.is_set():
                    await asyncio.sleep(min(wait, STOP_CHECK_SECONDS))
                turn += 1
            # Checked with no await before the count goes up, so the workers never send more than --count.
            if (self._stop.is_set() or time.perf_counter() >= deadline
                    or (plan.count is not None and stats.sent >= plan.count)):
                return
            stats.sent += 1
            try:
                reply = await self.tracker.request(plan.topic, plan.payload, qos=plan.qos, timeout=plan.timeout,
                                                   reply_topic=plan.reply_topic)
            except RequestRefused:
                raise
            except RequestTimeout:
                stats.timeouts += 1
            except RequestError as exc:
                stats.errors += 1
                stats.first_error = stats.first_error or str(exc)
            else:
                stats.replies += 1
                stats.rtt.record(microseconds(reply.rtt), interval_us)
