"""What happens in the proxy, as typed values. Metrics and logs subscribe to these.

The forwarding and journaling code emits events and never touches Prometheus or a
log format directly; adding a sink (metrics, structured log, tests) is one subscriber.
A subscriber's exception is logged and swallowed: observing must never break serving.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

log = logging.getLogger("vecbridge.events")

E = TypeVar("E")


@dataclass(frozen=True)
class RequestHandled:
    """The proxy answered an app request."""

    route: str
    outcome: str
    seconds: float


@dataclass(frozen=True)
class UpstreamCalled:
    """One call to a store finished (``store`` is "source" or "target")."""

    store: str
    route: str
    seconds: float


@dataclass(frozen=True)
class WriteJournaled:
    """A write reached the primary and its changes are durable in the journal."""

    route: str
    collection: str
    entries: int


@dataclass(frozen=True)
class WriteUnmirrored:
    """A request that changed nothing we could capture went through (pass-through only)."""

    route: str
    reason: str


@dataclass(frozen=True)
class BatchApplied:
    """The applier applied journal entries to the secondary."""

    entries: int
    seconds: float


@dataclass(frozen=True)
class ApplyFailed:
    """The secondary refused or could not take a batch (kind: unavailable | rejected)."""

    kind: str
    error: str
    will_retry: bool


@dataclass(frozen=True)
class DeadLettered:
    """An entry was moved to the dead-letter table."""

    seq: int
    collection: str
    error: str


@dataclass(frozen=True)
class JournalPruned:
    """Applied entries older than the retention window were deleted from the journal.

    ``entries`` were deleted; ``position`` is the highest seq that may now be gone.
    """

    entries: int
    position: int


# -- read-path events the guard consumes (emitted by proxy/reads/path.py) -----------------------


@dataclass(frozen=True)
class CanaryRead:
    """A read the NEW store (target) was asked to answer for the app.

    Emitted once per canary read (and, from cutover on, once per read the new store
    serves). ``outcome``: "served" (the new store's answer went to the app) or
    "fallback" (the new store failed and the primary answered instead). ``error`` is
    None when the new store answered, else a short error class/message (no user data).
    ``seconds`` is the time spent waiting on the new store, failed or not.
    """

    route: str
    collection: str
    outcome: str
    seconds: float
    error: str | None = None


@dataclass(frozen=True)
class ShadowCompared:
    """A sampled read was answered by both stores and the results compared.

    ``category`` is one of match|missing_ids|extra_ids|order|distance|metadata|error|
    timeout. ``recall`` is recall@k of the secondary against the primary for queries
    (None for get/count or when the secondary failed). ``secondary`` names the store
    that answered the shadow read ("target" before cutover, "source" from cutover on);
    ``secondary_seconds`` is its latency (None when it failed or timed out).
    """

    route: str
    collection: str
    category: str
    recall: float | None
    k: int
    primary_seconds: float
    secondary_seconds: float | None
    secondary: str = "target"


@dataclass(frozen=True)
class ShadowDropped:
    """A sampled read was not mirrored (``reason``: queue_full)."""

    reason: str


# -- migration control events (emitted by migration/control.py and migration/guard_watch.py)


@dataclass(frozen=True)
class PhaseChanged:
    """The persisted phase moved (``reason`` says who/why; ``forced`` skipped checks)."""

    from_phase: str
    to_phase: str
    reason: str
    forced: bool = False


@dataclass(frozen=True)
class GuardTripped:
    """A rollback happened for ``reason`` (error_rate|latency_p50|latency_p99|recall|
    journal_lag|manual); ``detail`` is the human-readable measurement, ``phase`` the
    phase rolled back from. ``automatic`` rollbacks latch the guard until re-armed."""

    reason: str
    detail: str
    phase: str
    automatic: bool = True


@dataclass(frozen=True)
class GuardRearmed:
    """An operator re-armed a tripped guard."""

    previous_reason: str | None


@dataclass(frozen=True)
class LiveChanged:
    """The live settings in force changed: canary share (0..100) and shadow sample rate
    (0..1) as routed now (0 outside their phases or while tripped), and the guard latch."""

    percent: float
    shadow_sample_rate: float
    guard_tripped: bool
    source: str


class EventBus:
    """Synchronous publish/subscribe by event type."""

    def __init__(self) -> None:
        self._subscribers: dict[type, list[Callable[[Any], None]]] = defaultdict(list)

    def subscribe(self, event_type: type[E], handler: Callable[[E], None]) -> None:
        self._subscribers[event_type].append(handler)

    def emit(self, event: object) -> None:
        for handler in self._subscribers.get(type(event), ()):
            try:
                handler(event)
            except Exception:
                log.exception("event subscriber failed for %s", type(event).__name__)
