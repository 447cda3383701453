"""Phase machine: legal moves, persistence shared by two readers, cutover preconditions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from control_parts import Parts, build_parts, close_parts

from adapters.base import CollectionKey
from proxy.core.config import Phase
from proxy.core.events import PhaseChanged
from proxy.core.phases import IllegalTransition, Phases, check_transition, record_validation
from proxy.core.state import StateStore
from proxy.journal.changes import DeleteRecords

P = Phase
LEGAL = [
    (P.PASSTHROUGH, P.MIRROR), (P.MIRROR, P.PASSTHROUGH), (P.MIRROR, P.SHADOW),
    (P.MIRROR, P.CANARY), (P.SHADOW, P.CANARY), (P.SHADOW, P.MIRROR), (P.CANARY, P.SHADOW),
    (P.CANARY, P.CUTOVER), (P.SHADOW, P.CUTOVER), (P.CUTOVER, P.SHADOW),
    (P.CUTOVER, P.FINALIZED),
]  # fmt: skip


@pytest.mark.parametrize(("current", "target"), LEGAL)
def test_legal_transitions_pass(current: Phase, target: Phase) -> None:
    check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target", "says"),
    [
        (P.PASSTHROUGH, P.SHADOW, "passthrough -> mirror"),
        (P.PASSTHROUGH, P.CUTOVER, "passthrough -> mirror"),
        (P.SHADOW, P.PASSTHROUGH, "mirror first"),
        (P.CANARY, P.FINALIZED, "only possible from cutover"),
        (P.CUTOVER, P.CANARY, "rollback"),
        (P.CUTOVER, P.MIRROR, "rollback"),
        (P.FINALIZED, P.SHADOW, "finalized"),
        (P.FINALIZED, P.CUTOVER, "finalized"),
    ],
)
def test_illegal_transitions_say_why(current: Phase, target: Phase, says: str) -> None:
    with pytest.raises(IllegalTransition, match=says):
        check_transition(current, target)


def test_two_readers_of_one_state_file_agree(tmp_path: Path) -> None:
    first = Phases(StateStore(tmp_path / "state.sqlite"), P.MIRROR)
    second = Phases(StateStore(tmp_path / "state.sqlite"), P.PASSTHROUGH)  # initial ignored
    assert second.current is P.MIRROR
    first.move_to(P.SHADOW, reason="test")
    assert second.current is P.SHADOW
    second.move_to(P.CANARY)
    assert first.current is P.CANARY
    assert [(t.from_phase, t.to_phase) for t in first.history()] == [
        ("mirror", "shadow"), ("shadow", "canary"),
    ]  # fmt: skip
    restarted = Phases(StateStore(tmp_path / "state.sqlite"), P.PASSTHROUGH)
    assert restarted.current is P.CANARY and restarted.dual_write


def test_forced_move_skips_the_check_and_is_recorded(tmp_path: Path) -> None:
    phases = Phases(StateStore(tmp_path / "s.sqlite"), P.PASSTHROUGH)
    with pytest.raises(IllegalTransition):
        phases.move_to(P.CUTOVER)
    phases.move_to(P.CUTOVER, force=True, reason="drill")
    assert phases.current is P.CUTOVER and phases.history()[-1].forced


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[Parts]:
    built = await build_parts(tmp_path, P.CANARY)
    yield built
    await close_parts(built)


async def test_cutover_refused_while_the_journal_lags(parts: Parts) -> None:
    await parts.journal.append([DeleteRecords(CollectionKey("c"), ("a",))])
    with pytest.raises(IllegalTransition, match="journal lag is 1 entries"):
        await parts.plane.controller.move_to(P.CUTOVER)
    assert parts.phases.current is P.CANARY
    await parts.plane.controller.move_to(P.CUTOVER, force=True)
    assert parts.phases.current is P.CUTOVER


async def test_cutover_refused_after_a_failed_validation(parts: Parts) -> None:
    record_validation(parts.state, False, "3 ids differ")
    with pytest.raises(IllegalTransition, match="3 ids differ"):
        await parts.plane.controller.move_to(P.CUTOVER)
    record_validation(parts.state, True, "all equal")
    await parts.plane.controller.move_to(P.CUTOVER)
    assert parts.phases.current is P.CUTOVER


async def test_transitions_emit_events_and_metrics(parts: Parts) -> None:
    seen: list[PhaseChanged] = []
    parts.events.subscribe(PhaseChanged, seen.append)
    await parts.plane.controller.move_to(P.CUTOVER)
    await parts.plane.controller.move_to(P.FINALIZED)
    assert [(e.from_phase, e.to_phase) for e in seen] == [
        ("canary", "cutover"), ("cutover", "finalized"),
    ]  # fmt: skip
    assert parts.metric(
        "vecbridge_phase_transitions_total", from_phase="cutover", to_phase="finalized"
    ) == 1  # fmt: skip
    assert parts.metric("vecbridge_phase", phase="finalized") == 1
    with pytest.raises(IllegalTransition, match="finalized"):
        await parts.plane.controller.move_to(P.SHADOW)


async def test_rollback_from_cutover_goes_to_shadow_with_canary_zero(parts: Parts) -> None:
    await parts.plane.controller.set_canary(50)
    await parts.plane.controller.move_to(P.CUTOVER)
    await parts.plane.controller.rollback("drill")
    assert parts.phases.current is P.SHADOW
    assert parts.live.values.canary_percent == 0
    assert parts.metric("vecbridge_guard_trips_total", reason="manual") == 1
    assert parts.plane.controller.guard_trip() is None  # a manual rollback does not latch
    with pytest.raises(IllegalTransition, match="nothing to roll back"):
        await parts.plane.controller.rollback("again")


async def test_hooks_run_and_a_before_hook_can_refuse(parts: Parts) -> None:
    calls: list[tuple[Phase, Phase]] = []

    async def before(current: Phase, target: Phase) -> None:
        if target is P.CUTOVER:
            raise IllegalTransition("reverse journal not ready")

    async def after(current: Phase, target: Phase) -> None:
        calls.append((current, target))

    parts.plane.controller.before_hooks.append(before)
    parts.plane.controller.after_hooks.append(after)
    with pytest.raises(IllegalTransition, match="reverse journal"):
        await parts.plane.controller.move_to(P.CUTOVER)
    assert parts.phases.current is P.CANARY and calls == []
    await parts.plane.controller.move_to(P.SHADOW)
    assert calls == [(P.CANARY, P.SHADOW)]


async def test_live_settings_follow_the_phase_and_persist(parts: Parts, tmp_path: Path) -> None:
    await parts.plane.controller.set_canary(10)
    assert parts.live.values.canary_active_percent == 10
    await parts.plane.controller.move_to(P.SHADOW)
    assert parts.live.values.canary_percent == 10
    assert parts.live.values.canary_active_percent == 0  # only routed in canary
    other = await build_parts(tmp_path)  # a second replica on the same state file
    try:
        assert other.live.values.canary_percent == 10 and other.phases.current is P.SHADOW
    finally:
        await close_parts(other)
