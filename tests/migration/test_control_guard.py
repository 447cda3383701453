"""The guard: rules over sliding windows (pure), and tripping/re-arming on real parts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from control_parts import Parts, build_parts, close_parts

from proxy.core.config import GuardConfig, Phase
from proxy.core.events import CanaryRead, ShadowCompared, UpstreamCalled
from proxy.core.phases import IllegalTransition
from proxy.migration.guard import Guard, percentile


def _guard(**limits: object) -> Guard:
    return Guard(GuardConfig.model_validate({"window_seconds": 10, "min_samples": 10, **limits}))


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50 and percentile(values, 99) == 99
    assert percentile([3.0], 99) == 3.0


def test_error_rate_trips_only_with_enough_samples() -> None:
    guard = _guard(max_error_rate=0.05)
    for i in range(9):
        guard.record_canary(0.0, failed=i < 3, seconds=0.01)
    assert guard.analyse(0.0).breaches == ()  # 33% but only 9 samples
    guard.record_canary(0.0, failed=False, seconds=0.01)
    (breach,) = guard.analyse(0.0).breaches
    assert breach.reason == "error_rate" and "30.0%" in breach.detail


def test_old_samples_leave_the_window() -> None:
    guard = _guard(max_error_rate=0.05)
    for _ in range(10):
        guard.record_canary(0.0, failed=True, seconds=0.01)
    for _ in range(30):
        guard.record_canary(8.0, failed=False, seconds=0.01)
    assert guard.analyse(8.0).breaches[0].reason == "error_rate"  # 10/40 = 25%
    assert guard.analyse(10.5).breaches == ()  # the failures are older than 10 s
    assert guard.analyse(10.5).measurements["error_rate"] == 0.0


def test_error_rate_at_the_limit_does_not_trip() -> None:
    guard = _guard(max_error_rate=0.1)
    for i in range(20):
        guard.record_canary(0.0, failed=i < 2, seconds=0.01)
    assert guard.analyse(0.0).breaches == ()


def test_latency_delta_p50_and_p99() -> None:
    guard = _guard(max_latency_delta_p50_seconds=0.1, max_latency_delta_p99_seconds=0.5)
    for _ in range(20):
        guard.record_latency(0.0, store_is_new=False, seconds=0.010)
        guard.record_canary(0.0, failed=False, seconds=0.310)
    reasons = [b.reason for b in guard.analyse(0.0).breaches]
    assert reasons == ["latency_p50"]  # +300 ms: over 100 ms at p50, under 500 ms at p99
    for _ in range(2):
        guard.record_latency(0.0, store_is_new=True, seconds=2.0)
    assert [b.reason for b in guard.analyse(0.0).breaches] == ["latency_p50", "latency_p99"]


def test_latency_needs_samples_on_both_sides() -> None:
    guard = _guard(max_latency_delta_p50_seconds=0.1)
    for _ in range(50):
        guard.record_canary(0.0, failed=False, seconds=5.0)
    guard.record_latency(0.0, store_is_new=False, seconds=0.01)
    assert guard.analyse(0.0).breaches == ()


def test_recall_below_threshold() -> None:
    guard = _guard(min_recall=0.9)
    for _ in range(10):
        guard.record_recall(0.0, 0.95)
    assert guard.analyse(0.0).breaches == ()
    for _ in range(10):
        guard.record_recall(0.0, 0.5)
    (breach,) = guard.analyse(0.0).breaches
    assert breach.reason == "recall" and "0.725" in breach.detail


def test_journal_lag_by_seconds_and_entries() -> None:
    guard = _guard(max_journal_lag_seconds=30, max_journal_lag_entries=100)
    guard.observe_lag(50, 10.0)
    assert guard.analyse(0.0).breaches == ()
    guard.observe_lag(50, 31.0)
    assert guard.analyse(0.0).breaches[0].reason == "journal_lag"
    guard.observe_lag(101, 1.0)
    assert "101 entries" in guard.analyse(0.0).breaches[0].detail


def test_disabled_rules_never_trip_and_analysis_gates_on_traffic() -> None:
    guard = _guard(max_error_rate=None, min_recall=None, max_journal_lag_seconds=None)
    for _ in range(20):
        guard.record_canary(0.0, failed=True, seconds=0.01)
        guard.record_recall(0.0, 0.0)
    guard.observe_lag(10**6, 10**6)
    analysis = guard.analyse(0.0)
    assert analysis.breaches == () and analysis.passed
    assert not _guard().analyse(0.0).passed  # no canary traffic: nothing to judge yet


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[Parts]:
    built = await build_parts(
        tmp_path, Phase.CANARY, guard={"window_seconds": 30, "min_samples": 20},
        canary={"percent": 10},
    )  # fmt: skip
    yield built
    await close_parts(built)


def _canary_reads(parts: Parts, n: int, failing_every: int = 0, seconds: float = 0.01) -> None:
    for i in range(n):
        failed = failing_every > 0 and i % failing_every == 0
        parts.events.emit(
            CanaryRead("query", "c", "fallback" if failed else "served", seconds,
                       "StoreUnavailable" if failed else None)
        )  # fmt: skip


async def test_error_rate_trip_rolls_back_and_latches(parts: Parts) -> None:
    assert parts.live.values.canary_active_percent == 10
    _canary_reads(parts, 50, failing_every=5)  # 20% errors
    breach = await parts.plane.guard.check_once()
    assert breach is not None and breach.reason == "error_rate"
    assert parts.phases.current is Phase.SHADOW
    assert parts.live.values.canary_percent == 0 and parts.live.values.guard_tripped
    status = parts.plane.status()["guard"]
    assert status["tripped"] and status["trip"]["reason"] == "error_rate"
    assert parts.metric("vecbridge_guard_trips_total", reason="error_rate") == 1
    assert parts.metric("vecbridge_guard_tripped") == 1
    assert parts.metric("vecbridge_canary_percent") == 0
    # Latched: no canary, no way forward until an operator re-arms.
    with pytest.raises(IllegalTransition, match="re-arm"):
        await parts.plane.controller.move_to(Phase.CANARY)
    with pytest.raises(IllegalTransition, match="re-arm"):
        await parts.plane.controller.set_canary(5)
    cleared = parts.plane.guard.rearm()
    assert cleared is not None and cleared["reason"] == "error_rate"
    assert parts.metric("vecbridge_guard_tripped") == 0
    await parts.plane.controller.move_to(Phase.CANARY)
    await parts.plane.controller.set_canary(5)
    assert await parts.plane.guard.check_once() is None  # windows were reset


async def test_latency_trip_from_upstream_and_canary_events(parts: Parts) -> None:
    for _ in range(30):
        parts.events.emit(UpstreamCalled("source", "query", 0.005))
        parts.events.emit(UpstreamCalled("source", "add", 9.0))  # writes are not compared
    _canary_reads(parts, 30, seconds=0.305)
    breach = await parts.plane.guard.check_once()
    assert breach is not None and breach.reason == "latency_p50"
    assert parts.phases.current is Phase.SHADOW


async def test_recall_trip_from_shadow_comparisons(parts: Parts) -> None:
    for _ in range(25):
        parts.events.emit(ShadowCompared("query", "c", "missing_ids", 0.4, 10, 0.01, 0.012))
    breach = await parts.plane.guard.check_once()
    assert breach is not None and breach.reason == "recall"
    assert parts.metric("vecbridge_guard_trips_total", reason="recall") == 1


async def test_guard_idle_outside_canary_and_cutover(parts: Parts) -> None:
    await parts.plane.controller.move_to(Phase.SHADOW)
    _canary_reads(parts, 50, failing_every=1)
    assert await parts.plane.guard.check_once() is None
    assert parts.phases.current is Phase.SHADOW and not parts.live.values.guard_tripped


async def test_trip_in_cutover_returns_to_shadow(parts: Parts) -> None:
    await parts.plane.controller.move_to(Phase.CUTOVER)
    _canary_reads(parts, 40, failing_every=2)
    breach = await parts.plane.guard.check_once()
    assert breach is not None and parts.phases.current is Phase.SHADOW


async def test_window_follows_the_fake_clock(parts: Parts) -> None:
    _canary_reads(parts, 10, failing_every=1)
    parts.clock.advance(31)  # those failures age out of the 30 s window
    _canary_reads(parts, 30)
    assert await parts.plane.guard.check_once() is None
    assert parts.phases.current is Phase.CANARY


async def test_disabled_guard_does_not_act(tmp_path: Path) -> None:
    parts = await build_parts(tmp_path, Phase.CANARY, guard={"enabled": False, "min_samples": 5})
    try:
        _canary_reads(parts, 20, failing_every=1)
        assert await parts.plane.guard.check_once() is None
        assert parts.phases.current is Phase.CANARY
    finally:
        await close_parts(parts)
