"""The guard at work: feeds :class:`~proxy.migration.guard.Guard` from events, trips, re-arms.

It listens to the read path's :class:`CanaryRead` and :class:`ShadowCompared` events and
to the primary's :class:`UpstreamCalled` (the old store's own read latency), polls the
journal lag, and every ``guard.check_seconds`` while in canary or cutover asks the
guard for a verdict. On a breach it persists the trip (so every replica stops canary
routing at once), rolls back through the :class:`Controller` (which records the reason
in status, metrics, a structured log line and the webhooks) and stays tripped until
:meth:`GuardWatch.rearm`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from proxy.core.config import GuardConfig, Phase
from proxy.core.events import (
    CanaryRead,
    EventBus,
    GuardRearmed,
    PhaseChanged,
    ShadowCompared,
    UpstreamCalled,
)
from proxy.core.live import GUARD_KEY
from proxy.core.state import StateStore
from proxy.migration.control import Controller, JournalStatsFn, log_structured
from proxy.migration.guard import COMPARABLE_ROUTES, Analysis, Breach, Guard

log = logging.getLogger("vecbridge.guard")

GUARDED = frozenset({Phase.CANARY, Phase.CUTOVER})
Clock = Callable[[], float]


class GuardWatch:
    """Runs the guard's rules against live traffic and acts on a breach."""

    def __init__(
        self,
        guard: Guard,
        control: Controller,
        state: StateStore,
        journal_stats: JournalStatsFn,
        clock: Clock = time.monotonic,
    ) -> None:
        self.guard = guard
        self._control = control
        self._state = state
        self._journal_stats = journal_stats
        self._clock = clock
        self._events: EventBus | None = None
        self.last_analysis: Analysis | None = None

    def subscribe(self, bus: EventBus) -> None:
        self._events = bus
        bus.subscribe(CanaryRead, self._on_canary)
        bus.subscribe(ShadowCompared, self._on_shadow)
        bus.subscribe(UpstreamCalled, self._on_upstream)
        bus.subscribe(PhaseChanged, self._on_phase)

    def update(self, config: GuardConfig) -> None:
        self.guard.update(config)

    # event handlers ----------------------------------------------------------------
    def _on_canary(self, event: CanaryRead) -> None:
        self.guard.record_canary(self._clock(), event.error is not None, event.seconds)

    def _on_shadow(self, event: ShadowCompared) -> None:
        now = self._clock()
        if event.recall is not None:
            self.guard.record_recall(now, event.recall)
        if event.secondary_seconds is not None:
            self.guard.record_latency(now, event.secondary == "target", event.secondary_seconds)

    def _on_upstream(self, event: UpstreamCalled) -> None:
        # The raw forward to the old store: its read latency is the baseline.
        if event.store == "source" and event.route in COMPARABLE_ROUTES:
            self.guard.record_latency(self._clock(), False, event.seconds)

    def _on_phase(self, event: PhaseChanged) -> None:
        if Phase(event.to_phase) in GUARDED:
            self.guard.reset()  # judge the new phase on its own traffic only

    # acting ------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        trip = self._control.guard_trip()
        analysis = self.last_analysis
        return {
            "enabled": self.guard.config.enabled,
            "tripped": trip is not None,
            "trip": trip,
            "window_seconds": self.guard.config.window_seconds,
            "min_samples": self.guard.config.min_samples,
            "measurements": analysis.measurements if analysis else {},
        }

    async def check_once(self) -> Breach | None:
        """Evaluate the rules now; trip on the first breach. Returns that breach."""
        stats = await self._journal_stats()
        self.guard.observe_lag(stats.lag_entries, stats.lag_seconds)
        self.last_analysis = analysis = self.guard.analyse(self._clock())
        phase = self._control.phases.current
        if not self.guard.config.enabled or phase not in GUARDED:
            return None
        trip = self._control.guard_trip()
        if trip is not None:
            # Tripped but still in a guarded phase: the automatic rollback was refused
            # (e.g. the old store was down while draining). Keep trying it.
            reason = str(trip.get("reason"))
            await self._control.rollback(reason, str(trip.get("detail")), automatic=True)
            return None
        if not analysis.breaches:
            return None
        breach = analysis.breaches[0]
        await self.trip(breach, phase)
        return breach

    async def trip(self, breach: Breach, phase: Phase) -> None:
        """Latch the trip, then roll back (the rollback records and alerts)."""
        self._state.put(
            GUARD_KEY,
            {"tripped": True, "reason": breach.reason, "detail": breach.detail,
             "phase": phase.value, "at": time.time()},
        )  # fmt: skip
        self._control.live.refresh(source="guard")
        log_structured(logging.ERROR, "guard_tripped", reason=breach.reason, detail=breach.detail)
        await self._control.rollback(breach.reason, breach.detail, automatic=True)

    def rearm(self) -> dict[str, Any] | None:
        """Clear a trip (operator action); returns the trip that was cleared."""
        trip = self._control.guard_trip()
        self._state.put(GUARD_KEY, {"tripped": False, "rearmed_at": time.time()})
        self.guard.reset()
        self._control.live.refresh(source="rearm")
        if self._events is not None:
            self._events.emit(GuardRearmed(None if trip is None else str(trip.get("reason"))))
        log_structured(logging.INFO, "guard_rearmed", previous=trip)
        return trip

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.guard.config.check_seconds)
            try:
                await self.check_once()
            except Exception:
                log.exception("guard check failed; will retry")
