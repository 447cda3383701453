"""The canary ramp: walk a schedule of canary shares on its own, pausing on failure.

Each step holds the canary at ``percent`` for at least ``min_seconds``; a step with
``analysis`` advances only when the guard's analysis passes (enough canary reads, no
rule breached). A breach pauses the ramp (the guard usually trips too); a canary share
changed by hand pauses it as a manual override; ``resume`` re-applies the current step.
The last step is held until the operator cuts over.

:func:`decide` is pure (state in, state out) and tested with a fake clock;
:class:`RampRunner` persists the state in the StateStore (wall-clock times, so a
restart continues the step) and applies the share through the Controller.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from proxy.core.config import Phase, RampConfig
from proxy.core.state import StateStore
from proxy.migration.control import Controller
from proxy.migration.guard import Analysis

log = logging.getLogger("vecbridge.ramp")

RAMP_KEY = "ramp"


@dataclass(frozen=True)
class RampState:
    """Where the ramp stands: step index, since when, and why it paused (if it did)."""

    step: int
    since: float
    applied_percent: float
    paused: str | None = None
    done: bool = False


@dataclass(frozen=True)
class Decision:
    """What :func:`decide` wants: the next state and the canary share to apply (if any)."""

    state: RampState | None
    set_percent: float | None = None
    note: str = ""


def decide(
    config: RampConfig,
    state: RampState | None,
    phase: Phase,
    live_percent: float,
    analysis: Analysis | None,
    now: float,
) -> Decision:
    """The ramp's next move; pure."""
    if not config.enabled or not config.steps or phase is not Phase.CANARY:
        return Decision(None, note="idle")
    steps = config.steps
    if state is None:
        first = steps[0].percent
        return Decision(RampState(0, now, first), first, f"ramp started at {first:g}%")
    if state.paused or state.done:
        return Decision(state, note=state.paused or "done")
    if abs(live_percent - state.applied_percent) > 1e-9:
        paused = f"manual override: canary set to {live_percent:g}% by hand"
        return Decision(replace(state, paused=paused), note=paused)
    step = steps[min(state.step, len(steps) - 1)]
    if now - state.since < step.min_seconds:
        return Decision(state, note="holding")
    if step.analysis:
        if analysis is None or analysis.breaches:
            detail = analysis.breaches[0].detail if analysis else "no analysis"
            paused = f"analysis failed at {step.percent:g}%: {detail}"
            return Decision(replace(state, paused=paused), note=paused)
        if not analysis.enough_data:
            return Decision(state, note=f"waiting for data ({analysis.canary_reads} canary reads)")
    if state.step + 1 >= len(steps):
        return Decision(replace(state, done=True), note="last step reached")
    nxt = steps[state.step + 1].percent
    return Decision(RampState(state.step + 1, now, nxt), nxt, f"advanced to {nxt:g}%")


class RampRunner:
    """Applies :func:`decide` every ``check_seconds``; state persisted in the StateStore."""

    def __init__(
        self, config: RampConfig, control: Controller, state: StateStore,
        analysis: Callable[[], Analysis | None], clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self.config = config
        self._control = control
        self._state = state
        self._analysis = analysis  # the guard's latest analysis
        self._clock = clock
        self.last_note = "idle"

    def update(self, config: RampConfig) -> None:
        self.config = config

    def load(self) -> RampState | None:
        raw = self._state.get(RAMP_KEY)
        return RampState(**raw) if isinstance(raw, dict) else None

    def _save(self, state: RampState | None) -> None:
        self._state.put(RAMP_KEY, None if state is None else asdict(state))

    async def tick(self) -> Decision:
        """One look at the ramp; applies a new canary share when the schedule says so."""
        current = self.load()
        live = self._control.live.values
        decision = decide(
            self.config, current, live.phase, live.canary_percent, self._analysis(), self._clock()
        )
        if decision.set_percent is not None:
            await self._control.set_canary(decision.set_percent, source="ramp")
        if decision.state != current:
            self._save(decision.state)
        if decision.note != self.last_note:
            log.info("canary ramp: %s", decision.note)
        self.last_note = decision.note
        return decision

    def pause(self, reason: str = "paused by operator") -> RampState | None:
        current = self.load()
        if current is not None:
            self._save(replace(current, paused=reason))
        return self.load()

    async def resume(self) -> RampState | None:
        """Clear a pause and re-apply the current step's share; the step's clock restarts."""
        current = self.load()
        if current is None or not self.config.steps:
            return None
        percent = self.config.steps[min(current.step, len(self.config.steps) - 1)].percent
        await self._control.set_canary(percent, source="ramp")
        resumed = RampState(current.step, self._clock(), percent)
        self._save(resumed)
        return resumed

    def status(self) -> dict[str, Any]:
        current = self.load()
        return {
            "enabled": self.config.enabled,
            "steps": [step.percent for step in self.config.steps],
            "state": None if current is None else asdict(current),
            "note": self.last_note,
        }

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.config.check_seconds)
            try:
                await self.tick()
            except Exception:
                log.exception("canary ramp step failed; will retry")
