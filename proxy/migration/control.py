"""Operator actions on a migration: phase moves, rollback, cutover, finalize, canary share.

:class:`Controller` is the one place that changes the phase. It checks the move
(:func:`proxy.core.phases.check_transition`), the cutover preconditions (journal caught up,
last validation not failed, every collection of the old store present in the new one)
and the guard (a tripped guard blocks canary and cutover until re-armed), runs the
registered hooks, persists, and emits :class:`PhaseChanged`.
Moves are serialised by a lock, so a guard trip and an operator command cannot
interleave.

Hooks let the cutover write path take part without this module knowing it: a
``before`` hook may refuse a move by raising :class:`IllegalTransition` (e.g. "reverse
journal not drained") and runs before the phase is persisted; an ``after`` hook runs
once the new phase is in force (e.g. swap the primary).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import orjson

from proxy.core.config import Phase
from proxy.core.events import EventBus, GuardTripped, PhaseChanged
from proxy.core.live import GUARD_KEY, LiveSettings
from proxy.core.phases import (
    ROLLBACK_FROM,
    IllegalTransition,
    Phases,
    check_cutover,
    check_transition,
    last_validation,
)
from proxy.core.state import StateStore
from proxy.journal.journal import JournalStats

log = logging.getLogger("vecbridge.control")

TransitionHook = Callable[[Phase, Phase], Awaitable[None]]
JournalStatsFn = Callable[[], Awaitable[JournalStats]]
_GUARDED = frozenset({Phase.CANARY, Phase.CUTOVER})


def log_structured(level: int, event: str, **fields: object) -> None:
    """One JSON log line per control event (easy to grep and to ship to a log store)."""
    log.log(level, orjson.dumps({"event": event, **fields}).decode())


class Controller:
    """Changes the phase and the canary share, with every check in one place."""

    def __init__(
        self,
        phases: Phases,
        live: LiveSettings,
        state: StateStore,
        events: EventBus,
        journal_stats: JournalStatsFn,
    ) -> None:
        self.phases = phases
        self.live = live
        self.state = state
        self._events = events
        self._journal_stats = journal_stats
        self.before_hooks: list[TransitionHook] = []
        self.after_hooks: list[TransitionHook] = []
        # Further cutover preconditions (skipped when forced), e.g. coverage of the old
        # store's collections (proxy/migration/cutover_coverage.py); each raises IllegalTransition.
        self.cutover_checks: list[Callable[[], Awaitable[None]]] = []
        self._lock = asyncio.Lock()

    def guard_trip(self) -> dict[str, object] | None:
        """The persisted trip record while the guard is tripped, else None."""
        guard = self.state.get(GUARD_KEY) or {}
        return guard if guard.get("tripped") else None

    async def move_to(self, target: Phase, force: bool = False, reason: str = "operator") -> Phase:
        """Move to ``target``; raises IllegalTransition with the reason when refused."""
        async with self._lock:
            return await self._move(target, force, reason)

    async def rollback(self, reason: str, detail: str = "", automatic: bool = False) -> Phase:
        """Back to shadow with canary 0, from canary or cutover; the reason is recorded."""
        async with self._lock:
            current = self.phases.current
            if current not in ROLLBACK_FROM:
                raise IllegalTransition(f"nothing to roll back: phase is {current}")
            label = reason if automatic else "manual"
            self.live.set_canary(0.0, source="rollback")
            await self._move(Phase.SHADOW, True, f"rollback ({label}): {detail or reason}")
        self._events.emit(GuardTripped(label, detail or reason, current.value, automatic))
        log_structured(
            logging.WARNING, "rollback", reason=label, detail=detail or reason,
            from_phase=current.value, to_phase=Phase.SHADOW.value, automatic=automatic,
        )  # fmt: skip
        return current

    async def set_canary(self, percent: float, source: str = "operator") -> float:
        """Set the canary share (0..100); refused above 0 while the guard is tripped."""
        trip = self.guard_trip()
        if percent > 0 and trip is not None:
            raise IllegalTransition(f"the guard is tripped ({trip.get('reason')}): re-arm first")
        values = self.live.set_canary(percent, source=source)
        log_structured(logging.INFO, "canary", percent=percent, source=source)
        return values.canary_percent

    async def _move(self, target: Phase, force: bool, reason: str) -> Phase:
        current = self.phases.current
        if current == target:
            return current
        if not force:
            await self._check(current, target)
        for hook in self.before_hooks:
            await hook(current, target)
        self.phases.move_to(target, force=force, reason=reason)
        self.live.refresh(source="phase")
        self._events.emit(PhaseChanged(current.value, target.value, reason, force))
        log_structured(
            logging.INFO, "phase", from_phase=current.value, to_phase=target.value,
            reason=reason, forced=force, at=time.time(),
        )  # fmt: skip
        for hook in self.after_hooks:
            try:
                await hook(current, target)
            except Exception:
                # The phase is already in force; an after-hook failure must not undo it.
                log.exception("after-transition hook failed for %s -> %s", current, target)
        return current

    async def _check(self, current: Phase, target: Phase) -> None:
        check_transition(current, target)
        trip = self.guard_trip()
        if target in _GUARDED and trip is not None:
            raise IllegalTransition(
                f"the guard is tripped ({trip.get('reason')}: {trip.get('detail')}): "
                "re-arm it first"
            )
        if target is Phase.CUTOVER:
            check_cutover(await self._least_lag(), 0, last_validation(self.state))
            for check in self.cutover_checks:
                await check()

    async def _least_lag(self, window_seconds: float = 5.0) -> int:
        """The smallest journal lag seen within the window (0 as soon as it is seen).

        Under live traffic the lag touches zero between writes while the new store keeps
        up; a lag that never does means it is behind. Writes still in flight are not lag:
        the cutover hook drains them under the write lock before the switch.
        """
        deadline = time.monotonic() + window_seconds
        least = (await self._journal_stats()).lag_entries
        while least and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            least = min(least, (await self._journal_stats()).lag_entries)
        return least
