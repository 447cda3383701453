"""Shadow reads: a sample of the app's reads mirrored to the other store and compared.

Off the critical path by construction: the read path calls :meth:`ShadowReads.offer`
AFTER the app's answer is known, which is a ``put_nowait`` into a bounded queue (a full
queue drops the job and counts it). Workers (``shadow.concurrency``) ask the other store
with a timeout, compare the two answers (:mod:`proxy.reads.compare`), emit
:class:`ShadowCompared`, and keep the worst mismatches for ``GET /-/shadow``; with
``shadow.mismatch_log`` set, every mismatch is also appended to a JSON-lines file
(:mod:`proxy.reads.mismatch_log`: ids only, written off the event loop).

Shadow work is also capped in CPU (``shadow.max_cpu_share``, :mod:`proxy.core.cpu_budget`):
each compared read is charged what it cost the proxy, and while the budget is spent new
reads are dropped (``reason="cpu_budget"``) instead of queued.

Optionally (``noise_every`` > 0) every Nth sampled query is also asked of the old store
a second time and compared with its own first answer: the noise floor of approximate
search, reported next to the comparisons so HNSW jitter is not read as a regression.
It does not feed the guard.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from multidict import CIMultiDict

from proxy.core.config import ShadowConfig
from proxy.core.cpu_budget import CURRENT_METER, CpuBudget, CpuMeter
from proxy.core.events import EventBus, ShadowCompared, ShadowDropped
from proxy.dialects.chroma.routes import Route
from proxy.reads.compare import Comparison, compare, severity
from proxy.reads.mismatch_log import MismatchLog
from proxy.upstream.forwarder import inflate

log = logging.getLogger("vecbridge.shadow")

Answer = tuple[int, bytes]


@dataclass(frozen=True)
class ShadowJob:
    """A read the app already got its answer to, to be asked of the other store."""

    route: Route
    method: str
    path_qs: str
    headers: CIMultiDict[str]
    body: bytes
    served_by: str  # "source" or "target": the store whose answer the app got
    answer: Answer
    seconds: float  # how long that store took
    encoding: str = ""  # Content-Encoding of the answer's body, inflated by the worker

    @property
    def secondary(self) -> str:
        return "source" if self.served_by == "target" else "target"


SecondaryRead = Callable[[ShadowJob], Awaitable[Answer]]


class ShadowReads:
    """The bounded queue, its workers, and what they found."""

    def __init__(
        self,
        config: ShadowConfig,
        secondary: SecondaryRead,
        events: EventBus,
        name_of: Callable[[str], str | None],
        noise: SecondaryRead | None = None,
        noise_every: int = 0,
    ) -> None:
        self.config = config
        self._secondary = secondary
        self._events = events
        self._name_of = name_of
        self._noise = noise
        self._noise_every = noise_every if noise is not None else 0
        self._queue: asyncio.Queue[ShadowJob] = asyncio.Queue(maxsize=config.queue_size)
        self._worst: list[tuple[tuple[int, float, float], int, dict[str, Any]]] = []
        self._tick = itertools.count()
        self._categories: Counter[str] = Counter()
        self._recall_sum = 0.0
        self._recall_n = 0
        self._noise_stats: Counter[str] = Counter()
        self._noise_recall_sum = 0.0
        self._sampled_queries = 0
        self._dropped_by: Counter[str] = Counter()
        self.budget: CpuBudget | None = None
        if config.max_cpu_share is not None:
            self.budget = CpuBudget(config.max_cpu_share)
        self.mismatch_log: MismatchLog | None = None
        if config.mismatch_log is not None:
            self.mismatch_log = MismatchLog(config.mismatch_log, config.mismatch_log_max_bytes)

    def offer(self, job: ShadowJob) -> bool:
        """Queue ``job`` without waiting; False (and counted) when the queue is full or
        the CPU budget is spent."""
        if self.budget is not None and not self.budget.available():
            return self._drop("cpu_budget")
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            return self._drop("queue_full")
        return True

    def _drop(self, reason: str) -> bool:
        self._dropped_by[reason] += 1
        self._events.emit(ShadowDropped(reason))
        return False

    async def run(self) -> None:
        """The workers (and the mismatch log's flusher); runs until cancelled."""
        workers = [
            asyncio.create_task(self._worker(), name=f"shadow-{n}")
            for n in range(self.config.concurrency)
        ]
        if self.mismatch_log is not None:
            workers.append(asyncio.create_task(self.mismatch_log.run(), name="shadow-log"))
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()

    async def _worker(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self._process(job)
            except Exception:
                log.exception("shadow comparison failed; skipped")
            finally:
                self._queue.task_done()

    async def _process(self, job: ShadowJob) -> None:
        meter = CpuMeter()
        token = CURRENT_METER.set(meter)  # the store call adds its thread's CPU to it
        try:
            await self._compare(job, meter)
        finally:
            CURRENT_METER.reset(token)
            if self.budget is not None:
                self.budget.charge(meter.seconds)

    async def _compare(self, job: ShadowJob, meter: CpuMeter) -> None:
        k = _k_of(job)
        started = time.perf_counter()
        try:
            other = await asyncio.wait_for(self._secondary(job), self.config.timeout_seconds)
        except TimeoutError:
            self._record(job, Comparison("timeout", k=k), None)
            return
        except Exception as exc:
            log.debug("shadow read failed: %s", type(exc).__name__)
            self._record(job, Comparison("error", k=k), None)
            return
        seconds = time.perf_counter() - started
        cpu_started = time.thread_time()  # no await until the record: all of it is ours
        own = (job.answer[0], inflate(job.answer[1], job.encoding))
        old, new = (own, other) if job.served_by == "source" else (other, own)
        self._record(job, compare(job.route.name, k, old, new), seconds)
        meter.seconds += time.thread_time() - cpu_started
        await self._maybe_noise(job, k)

    def _record(self, job: ShadowJob, result: Comparison, seconds: float | None) -> None:
        name = self._name_of(job.route.collection) or "unknown"
        recall = result.recall if result.category not in ("error", "timeout") else None
        self._events.emit(
            ShadowCompared(
                job.route.name, name, result.category, recall, result.k, job.seconds,
                seconds, job.secondary,
            )
        )  # fmt: skip
        self._categories[result.category] += 1
        if recall is not None:
            self._recall_sum += recall
            self._recall_n += 1
        if result.category == "match":
            return
        entry = _mismatch(job, name, result, seconds)
        if self.mismatch_log is not None:
            self.mismatch_log.add(entry)
        self._keep_worst({"at": round(time.time(), 3), **entry}, result)

    def _keep_worst(self, entry: dict[str, Any], result: Comparison) -> None:
        if self.config.worst_kept <= 0:
            return
        item = (severity(result), next(self._tick), entry)
        if len(self._worst) < self.config.worst_kept:
            heapq.heappush(self._worst, item)
        elif item[0] > self._worst[0][0]:
            heapq.heapreplace(self._worst, item)

    async def _maybe_noise(self, job: ShadowJob, k: int) -> None:
        if not self._noise_every or job.route.name != "query" or job.served_by != "source":
            return
        self._sampled_queries += 1
        if self._sampled_queries % self._noise_every or self._noise is None:
            return
        try:
            again = await asyncio.wait_for(self._noise(job), self.config.timeout_seconds)
        except Exception:
            return
        result = compare("query", k, (job.answer[0], inflate(job.answer[1], job.encoding)), again)
        self._noise_stats[result.category] += 1
        self._noise_recall_sum += result.recall if result.recall is not None else 0.0

    def snapshot(self) -> dict[str, Any]:
        """What ``GET /-/shadow`` shows: totals, noise floor, worst mismatches (worst first)."""
        worst = [entry for _, _, entry in sorted(self._worst, reverse=True)]
        noise_n = sum(self._noise_stats.values())
        return {
            "queue": {"size": self._queue.qsize(), "capacity": self.config.queue_size},
            "compared": sum(self._categories.values()),
            "dropped": sum(self._dropped_by.values()),
            "dropped_by_reason": dict(self._dropped_by),
            "cpu_budget": None if self.budget is None else {
                "max_cpu_share": self.budget.share,
                "cpu_seconds_spent": round(self.budget.spent, 3),
            },
            "by_category": dict(self._categories),
            "mean_recall": self._recall_sum / self._recall_n if self._recall_n else None,
            "noise_floor": {
                "compared": noise_n,
                "by_category": dict(self._noise_stats),
                "mean_recall": self._noise_recall_sum / noise_n if noise_n else None,
            },
            "worst": worst,
            "mismatch_log": None if self.mismatch_log is None else self.mismatch_log.snapshot(),
        }

    async def drain(self) -> None:
        """Wait until every queued job is compared (tests, benchmarks)."""
        await self._queue.join()


def _mismatch(
    job: ShadowJob, name: str, result: Comparison, seconds: float | None
) -> dict[str, Any]:
    """One mismatch as kept and logged: ids and numbers only, never the app's data."""
    return {
        "route": job.route.name, "collection": name, "collection_id": job.route.collection,
        "category": result.category, "recall": result.recall, "k": result.k,
        "rank_agreement": result.rank_agreement, "max_distance_delta": result.max_distance_delta,
        "missing_ids": result.missing, "extra_ids": result.extra, "primary": job.served_by,
        "secondary": job.secondary, "primary_seconds": round(job.seconds, 6),
        "secondary_seconds": None if seconds is None else round(seconds, 6),
    }  # fmt: skip


_N_RESULTS = re.compile(rb'"n_results"\s*:\s*(\d+)')


def _k_of(job: ShadowJob) -> int:
    """The query's n_results (Chroma's default 10), without parsing the vectors."""
    if job.route.name != "query":
        return 0
    found = _N_RESULTS.search(job.body)
    return int(found.group(1)) if found else 10
