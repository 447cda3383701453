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
