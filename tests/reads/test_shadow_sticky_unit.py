"""Must-show 4 (unit level): canary stickiness and share over 10,000 keys."""

from __future__ import annotations

import random

from proxy.core.config import Phase
from proxy.core.live import LiveValues
from proxy.reads.canary import CanaryRouter, bucket, serving_percent

KEYS = [f"tenant-{i}" for i in range(10_000)]
COLLECTION = "0b6f7a4e-3d0c-4c55-9d3e-1f2a3b4c5d6e"
HEADER = "X-Tenant"


def _routed(router: CanaryRouter, percent: float) -> set[str]:
    return {k for k in KEYS if router.routed(percent, COLLECTION, {HEADER: k}, HEADER)}


def test_raising_the_percentage_only_moves_keys_to_the_new_store() -> None:
    router = CanaryRouter()
    at_10, at_30 = _routed(router, 10.0), _routed(router, 30.0)
    assert at_10 <= at_30
    assert abs(len(at_10) / len(KEYS) * 100 - 10) <= 2
    assert abs(len(at_30) / len(KEYS) * 100 - 30) <= 2
    assert _routed(router, 10.0) == at_10  # same side every time at a given percentage


def test_the_key_includes_the_collection() -> None:
    other = {k for k in KEYS if bucket("another-collection", k) < 10.0}
    assert other != {k for k in KEYS if bucket(COLLECTION, k) < 10.0}


def test_without_the_header_each_request_is_drawn_afresh() -> None:
    router = CanaryRouter(random.Random(3))
    draws = [router.routed(30.0, COLLECTION, {}, HEADER) for _ in range(10_000)]
    assert abs(sum(draws) / len(draws) * 100 - 30) <= 2
    assert all(router.routed(100.0, COLLECTION, {}, None) for _ in range(100))
    assert not any(router.routed(0.0, COLLECTION, {HEADER: k}, HEADER) for k in KEYS[:100])


def test_serving_percent_by_phase() -> None:
    def values(phase: Phase, percent: float, tripped: bool = False) -> LiveValues:
        return LiveValues(phase, percent, 0.0, None, tripped)

    assert serving_percent(values(Phase.CANARY, 25.0)) == 25.0
    assert serving_percent(values(Phase.CANARY, 25.0, tripped=True)) == 0.0
    assert serving_percent(values(Phase.SHADOW, 25.0)) == 0.0
    assert serving_percent(values(Phase.CUTOVER, 0.0)) == 100.0
