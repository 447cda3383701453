"""Canary ramp: the pure decision and the runner on real parts with a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from control_parts import Parts, build_parts, close_parts

from proxy.core.config import Phase, RampConfig
from proxy.core.events import CanaryRead
from proxy.migration.guard import Analysis, Breach
from proxy.migration.ramp import RampState, decide

RAMP = RampConfig.model_validate(
    {"enabled": True, "steps": [
        {"percent": 10, "min_seconds": 60},
        {"percent": 50, "min_seconds": 60},
        {"percent": 100, "min_seconds": 0, "analysis": False},
    ]}
)  # fmt: skip
GOOD = Analysis((), canary_reads=100, enough_data=True)
THIN = Analysis((), canary_reads=3, enough_data=False)
BAD = Analysis((Breach("error_rate", "new-store error rate 20%"),), 100, True)


def test_starts_at_the_first_step_in_canary_only() -> None:
    assert decide(RAMP, None, Phase.SHADOW, 0, GOOD, 0).state is None
    first = decide(RAMP, None, Phase.CANARY, 0, GOOD, 0)
    assert first.set_percent == 10 and first.state == RampState(0, 0, 10)


def test_holds_then_advances_when_analysis_passes() -> None:
    state = RampState(0, 0, 10)
    assert decide(RAMP, state, Phase.CANARY, 10, GOOD, 59).set_percent is None
    waiting = decide(RAMP, state, Phase.CANARY, 10, THIN, 61)
    assert waiting.set_percent is None and "waiting for data" in waiting.note
    step = decide(RAMP, state, Phase.CANARY, 10, GOOD, 61)
    assert step.set_percent == 50 and step.state == RampState(1, 61, 50)


def test_pauses_on_a_failed_analysis_and_stays_paused() -> None:
    paused = decide(RAMP, RampState(1, 0, 50), Phase.CANARY, 50, BAD, 100)
    assert paused.state is not None and "analysis failed at 50%" in str(paused.state.paused)
    again = decide(RAMP, paused.state, Phase.CANARY, 50, GOOD, 1000)
    assert again.set_percent is None and again.state == paused.state


def test_manual_change_pauses_the_ramp() -> None:
    paused = decide(RAMP, RampState(0, 0, 10), Phase.CANARY, 25, GOOD, 100)
    assert paused.state is not None and "manual override" in str(paused.state.paused)


def test_step_without_analysis_and_the_end() -> None:
    last = decide(RAMP, RampState(1, 0, 50), Phase.CANARY, 50, GOOD, 60)
    assert last.set_percent == 100
    assert last.state is not None
    done = decide(RAMP, last.state, Phase.CANARY, 100, None, 60)
    assert done.state is not None and done.state.done and done.set_percent is None


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[Parts]:
    built = await build_parts(
        tmp_path, Phase.CANARY, guard={"min_samples": 5, "window_seconds": 1000},
        canary={"ramp": RAMP.model_dump()},
    )  # fmt: skip
    yield built
    await close_parts(built)


def _serve(parts: Parts, n: int) -> None:
    for _ in range(n):
        parts.events.emit(CanaryRead("query", "c", "served", 0.01))


async def test_runner_walks_the_schedule(parts: Parts) -> None:
    ramp, guard = parts.plane.ramp, parts.plane.guard
    await ramp.tick()
    assert parts.live.values.canary_percent == 10
    parts.clock.advance(61)
    await guard.check_once()
    await ramp.tick()
    assert parts.live.values.canary_percent == 10  # no canary traffic yet: waits
    _serve(parts, 10)
    await guard.check_once()
    await ramp.tick()
    assert parts.live.values.canary_percent == 50
    parts.clock.advance(61)
    await guard.check_once()
    await ramp.tick()
    await ramp.tick()
    assert parts.live.values.canary_percent == 100
    assert ramp.status()["state"]["done"]


async def test_manual_override_pauses_and_resume_reapplies(parts: Parts) -> None:
    ramp = parts.plane.ramp
    await ramp.tick()
    await parts.plane.controller.set_canary(30)
    await ramp.tick()
    assert "manual override" in str(ramp.status()["state"]["paused"])
    assert parts.live.values.canary_percent == 30
    await ramp.resume()
    assert parts.live.values.canary_percent == 10
    assert ramp.status()["state"]["paused"] is None


async def test_rollback_resets_the_ramp(parts: Parts) -> None:
    await parts.plane.ramp.tick()
    await parts.plane.controller.rollback("drill")
    await parts.plane.ramp.tick()
    assert parts.plane.ramp.load() is None
    await parts.plane.controller.move_to(Phase.CANARY)
    await parts.plane.ramp.tick()
    assert parts.live.values.canary_percent == 10  # starts over at the first step
