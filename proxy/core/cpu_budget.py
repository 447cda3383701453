"""A CPU budget for shadow reads, so comparing never slows the app's own requests.

Shadow work runs inside the proxy process: the comparison always, and with an embedded
(local-mode) Qdrant the search itself, which is pure Python on the store's thread and
competes with the request path for the interpreter. ``shadow.max_cpu_share`` caps the
CPU that work may use, as a share of one core, with a token bucket: every shadow read
is charged the CPU it actually took (thread CPU time of the store call and of the
comparison), the bucket refills at ``max_cpu_share`` CPU-seconds per second, and while
it is empty new shadow reads are dropped and counted (``reason="cpu_budget"``).

The store call runs on another thread, so its cost is measured there: the shadow
worker puts a :class:`CpuMeter` in a context variable, and :func:`metered` (applied by
the read translation to every store call) captures it on the loop thread and adds the
call's ``thread_time`` to it. Canary reads carry no meter and are never budgeted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

BURST_SECONDS = 1.0  # the bucket holds this many seconds of the allowed share


@dataclass
class CpuMeter:
    """CPU seconds spent on behalf of one shadow read."""

    seconds: float = 0.0


CURRENT_METER: ContextVar[CpuMeter | None] = ContextVar("vecbridge_shadow_meter", default=None)


def metered(fn: Callable[[Any], T]) -> Callable[[Any], T]:
    """``fn``, adding the CPU it takes on whichever thread runs it to the current meter.

    Call on the event loop thread (where the context variable is set); the returned
    function may run anywhere. Without a meter in context, ``fn`` itself comes back.
    """
    meter = CURRENT_METER.get()
    if meter is None:
        return fn

    def run(arg: Any) -> T:
        started = time.thread_time()
        try:
            return fn(arg)
        finally:
            meter.seconds += time.thread_time() - started

    return run


@contextmanager
def cpu_section() -> Iterator[None]:
    """Charge the CPU of a synchronous block (no ``await`` inside) to the current meter."""
    meter = CURRENT_METER.get()
    if meter is None:
        yield
        return
    started = time.thread_time()
    try:
        yield
    finally:
        meter.seconds += time.thread_time() - started


class CpuBudget:
    """Token bucket of CPU seconds refilled at ``share`` CPU-seconds per wall second."""

    def __init__(self, share: float, clock: Callable[[], float] = time.monotonic) -> None:
        if share <= 0:
            raise ValueError("the CPU share must be positive")
        self.share = share
        self._clock = clock
        self._capacity = share * BURST_SECONDS
        self._tokens = self._capacity
        self._at = clock()
        self.spent = 0.0

    def available(self) -> bool:
        """True while the bucket has credit left (a job may start)."""
        self._refill()
        return self._tokens > 0.0

    def charge(self, seconds: float) -> None:
        """Take what a finished job cost; the bucket may go into debt, paid back by time."""
        self._refill()
        self._tokens -= seconds
        self.spent += seconds

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._at) * self.share)
        self._at = now
