"""proxy/core/cpu_budget.py: shadow reads are charged their CPU and stop once it is spent."""

from __future__ import annotations

import asyncio
import time

import pytest
from test_shadow_queue_unit import Recorder, _config, _job

from proxy.core.cpu_budget import CURRENT_METER, CpuBudget, CpuMeter, metered
from proxy.core.events import EventBus
from proxy.ops.metrics import Metrics
from proxy.reads.shadow import Answer, ShadowJob, ShadowReads


def _burn(seconds: float) -> float:
    """Spin the CPU of the calling thread for ``seconds`` of thread time."""
    started = time.thread_time()
    while time.thread_time() - started < seconds:
        pass
    return time.thread_time() - started


def test_bucket_refills_at_the_share_and_goes_into_debt() -> None:
    now = [0.0]
    budget = CpuBudget(0.1, clock=lambda: now[0])  # 0.1 CPU-second per second, 0.1 burst
    assert budget.available()
    budget.charge(0.3)  # one expensive job: allowed to finish, then paid back
    assert not budget.available()
    now[0] = 1.0  # +0.1
    assert not budget.available()
    now[0] = 2.5  # +0.15 more: back in credit
    assert budget.available()
    now[0] = 100.0
    budget.charge(0.1)  # credit never exceeds the burst: one such job empties it
    assert not budget.available()
    assert budget.spent == pytest.approx(0.4)
    with pytest.raises(ValueError):
        CpuBudget(0.0)


async def test_metered_counts_cpu_on_the_thread_that_runs_it() -> None:
    meter = CpuMeter()
    token = CURRENT_METER.set(meter)
    try:
        burned = await asyncio.to_thread(metered(_burn), 0.03)
    finally:
        CURRENT_METER.reset(token)
    assert meter.seconds >= burned > 0.0
    untouched = metered(_burn)  # no meter in context: the function itself
    assert untouched is _burn


async def test_spent_budget_drops_shadow_reads_and_counts_them() -> None:
    bus = EventBus()
    seen, metrics = Recorder(bus), Metrics()
    metrics.subscribe(bus)

    async def expensive(job: ShadowJob) -> Answer:
        # like an embedded Qdrant search: CPU on the store's thread, metered
        await asyncio.to_thread(metered(_burn), 0.02)
        return job.answer

    config = _config(max_cpu_share=0.01, concurrency=1)  # burst: 10 ms of CPU
    shadow = ShadowReads(config, expensive, bus, lambda _: "c")
    runner = asyncio.create_task(shadow.run())
    try:
        accepted = 0
        for _ in range(20):
            accepted += shadow.offer(_job(["a"]))
            await asyncio.wait_for(shadow.drain(), 5)
    finally:
        runner.cancel()
    assert accepted >= 1 and accepted < 20  # the first job spent more than the burst
    assert len(seen.compared) == accepted
    assert shadow.snapshot()["dropped_by_reason"] == {"cpu_budget": 20 - accepted}
    assert shadow.budget is not None and shadow.budget.spent >= 0.02 * accepted
    rendered = metrics.render()
    assert f'vecbridge_shadow_dropped_total{{reason="cpu_budget"}} {20 - accepted}.0'.encode() in (
        rendered
    )


async def test_without_a_cap_nothing_is_dropped_for_cpu() -> None:
    bus = EventBus()
    seen = Recorder(bus)

    async def expensive(job: ShadowJob) -> Answer:
        await asyncio.to_thread(metered(_burn), 0.005)
        return job.answer

    shadow = ShadowReads(_config(max_cpu_share=None), expensive, bus, lambda _: "c")
    runner = asyncio.create_task(shadow.run())
    try:
        for _ in range(10):
            assert shadow.offer(_job(["a"]))
            await asyncio.wait_for(shadow.drain(), 5)
    finally:
        runner.cancel()
    assert len(seen.compared) == 10 and not seen.dropped
    assert shadow.snapshot()["cpu_budget"] is None
