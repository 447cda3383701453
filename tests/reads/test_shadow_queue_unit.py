"""proxy/reads/shadow.py: bounded queue (drops counted), timeouts, errors, worst mismatches."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from multidict import CIMultiDict

from proxy.core.config import ShadowConfig
from proxy.core.events import EventBus, ShadowCompared, ShadowDropped
from proxy.dialects.chroma.routes import Kind, Route
from proxy.ops.metrics import Metrics
from proxy.reads.shadow import Answer, ShadowJob, ShadowReads

ROUTE = Route("query", Kind.READ, "default_tenant", "default_database", "uuid-1")


def _answer(ids: list[str]) -> Answer:
    body = {"ids": [ids], "distances": [[0.1 * n for n in range(len(ids))]],
            "embeddings": None, "documents": None, "uris": None, "metadatas": None,
            "include": ["distances"]}  # fmt: skip
    return 200, orjson.dumps(body)


def _job(ids: list[str], served_by: str = "source") -> ShadowJob:
    body = orjson.dumps({"query_embeddings": [[1.0]], "n_results": len(ids)})
    return ShadowJob(ROUTE, "POST", "/q", CIMultiDict(), body, served_by, _answer(ids), 0.01)


def _config(**values: Any) -> ShadowConfig:
    return ShadowConfig.model_validate(values)


class Recorder:
    def __init__(self, bus: EventBus) -> None:
        self.compared: list[ShadowCompared] = []
        self.dropped: list[ShadowDropped] = []
        bus.subscribe(ShadowCompared, self.compared.append)
        bus.subscribe(ShadowDropped, self.dropped.append)


async def test_full_queue_drops_without_waiting_and_counts() -> None:
    bus, gate = EventBus(), asyncio.Event()
    seen = Recorder(bus)

    async def slow(job: ShadowJob) -> Answer:
        await gate.wait()
        return job.answer

    shadow = ShadowReads(_config(queue_size=3, concurrency=1), slow, bus, lambda _: "c")
    metrics = Metrics()
    metrics.subscribe(bus)
    results = [shadow.offer(_job(["a"])) for _ in range(5)]  # no worker yet: never blocks
    assert results == [True, True, True, False, False]
    assert len(seen.dropped) == 2 and shadow.snapshot()["dropped"] == 2
    assert b'vecbridge_shadow_dropped_total{reason="queue_full"} 2.0' in metrics.render()
    runner = asyncio.create_task(shadow.run())
    gate.set()
    await asyncio.wait_for(shadow.drain(), 5)
    runner.cancel()
    assert [e.category for e in seen.compared] == ["match"] * 3


async def test_timeout_error_and_recall_are_reported() -> None:
    bus = EventBus()
    seen = Recorder(bus)
    answers: dict[str, Any] = {
        "slow": None, "boom": RuntimeError("down"), "half": _answer(["a", "x"]),
    }  # fmt: skip

    async def secondary(job: ShadowJob) -> Answer:
        outcome = answers[job.path_qs]
        if outcome is None:
            await asyncio.sleep(10)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome  # type: ignore[no-any-return]

    shadow = ShadowReads(
        _config(timeout_seconds=0.05, concurrency=2, worst_kept=2), secondary, bus,
        lambda _: "books",
    )  # fmt: skip
    runner = asyncio.create_task(shadow.run())
    for path in ("slow", "boom", "half"):
        job = _job(["a", "b"])
        shadow.offer(ShadowJob(ROUTE, "POST", path, job.headers, job.body, "source",
                               job.answer, 0.01))  # fmt: skip
    await asyncio.wait_for(shadow.drain(), 5)
    runner.cancel()
    by_cat = {e.category: e for e in seen.compared}
    assert set(by_cat) == {"timeout", "error", "missing_ids"}
    assert by_cat["timeout"].recall is None and by_cat["timeout"].secondary_seconds is None
    assert by_cat["missing_ids"].recall == 0.5 and by_cat["missing_ids"].k == 2
    assert all(e.collection == "books" and e.secondary == "target" for e in seen.compared)
    worst = shadow.snapshot()["worst"]
    assert [w["category"] for w in worst] == ["error", "timeout"]  # kept 2, worst first


async def test_canary_served_read_is_compared_against_the_source() -> None:
    bus = EventBus()
    seen = Recorder(bus)

    async def source(job: ShadowJob) -> Answer:
        return _answer(["a", "b", "c", "d"])

    shadow = ShadowReads(_config(), source, bus, lambda _: None)
    runner = asyncio.create_task(shadow.run())
    shadow.offer(_job(["a", "b", "c", "x"], served_by="target"))
    await asyncio.wait_for(shadow.drain(), 5)
    runner.cancel()
    (event,) = seen.compared
    assert event.secondary == "source" and event.recall == 0.75
    assert event.collection == "unknown"
