"""The read path: every read the app makes goes through :class:`ReadPath`.

Per request, from the live snapshot (no I/O):

1. Canary: a translatable read (get/query/count, and get/list/count of collections)
   whose sticky key (``Route.sticky_key``: the collection, or the database scope for
   collection-level reads) falls under the serving share (:mod:`proxy.reads.canary`) is
   answered by the new store in Chroma's format
   (:mod:`proxy.dialects.chroma.read_translation`). If the new store fails, the primary
   answers and the
   fallback is counted; no error of the new store reaches the app.
2. Otherwise the request is forwarded raw to the primary, as before.
3. Shadow: afterwards a sample of translatable reads is handed, with the answer the app
   got, to the shadow queue (:mod:`proxy.reads.shadow`): a ``put_nowait``, never a wait.
   The other store is asked by the shadow workers, off the critical path.

Events: :class:`CanaryRead` once per read the new store was asked to answer (here);
:class:`ShadowCompared` once per sampled read compared (by the shadow workers).
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from multidict import CIMultiDict

from adapters.base import CollectionMissing
from proxy.core.config import Config, Phase
from proxy.core.events import CanaryRead, EventBus, UpstreamCalled
from proxy.core.live import LiveSettings, LiveValues
from proxy.core.phases import NEW_STORE_PRIMARY
from proxy.dialects.chroma.finalized_service import READ_ROUTES as SERVICE_READS
from proxy.dialects.chroma.finalized_service import FinalizedService
from proxy.dialects.chroma.read_translation import (
    SERVABLE_ROUTES,
    CollectionUnknown,
    NotServable,
    TargetReader,
)
from proxy.dialects.chroma.routes import Route
from proxy.reads.canary import CanaryRouter, serving_percent
from proxy.reads.shadow import Answer, ShadowJob, ShadowReads
from proxy.upstream.forwarder import Forwarder, UpstreamResponse, UpstreamUnavailable, inflate

_JSON_HEADERS = (("Content-Type", "application/json"),)


class ReadPath:
    """Answers app reads: canary share from the new store, the rest from the primary."""

    def __init__(
        self,
        primary: Forwarder,
        events: EventBus | None = None,
        live: LiveSettings | None = None,
        target: Any = None,
        config: Config | None = None,
        rng: random.Random | None = None,
        noise_every: int = 0,
    ) -> None:
        """Without ``live``/``target``/``config``/``events`` it only forwards to the primary."""
        self._primary = primary
        self._events = events or EventBus()
        self._live = live
        self._random = rng or random.Random()
        self._router = CanaryRouter(self._random)
        self.reader: TargetReader | None = None
        self.shadow: ShadowReads | None = None
        self.service: FinalizedService | None = None  # set by install_cutover
        self._canary_timeout = 30.0
        if target is not None and config is not None and hasattr(target, "run"):
            self.reader = TargetReader(target, exact=config.target.exact_search)
            self._canary_timeout = config.target.timeout_seconds
            self.shadow = ShadowReads(
                config.shadow, self._ask_secondary, self._events, self.reader.name_of,
                noise=self._ask_source, noise_every=noise_every,
            )  # fmt: skip

    async def handle(
        self, route: Route, method: str, path_qs: str, headers: CIMultiDict[str], body: bytes
    ) -> UpstreamResponse:
        """The app's answer to one read (or unknown request)."""
        values = self._live.values if self._live is not None else None
        if route.name in SERVICE_READS and self.service is not None and values is not None:
            return await self.service.handle(route, method, path_qs, headers, body, values.phase)
        if values is None or self.reader is None or route.name not in SERVABLE_ROUTES:
            return await self._primary.send(method, path_qs, headers, body, route=route.name)
        if self._router.routed(
            serving_percent(values), route.sticky_key, headers, values.sticky_header
        ):
            served = await self._canary(route, body, values.phase, path_qs)
            if served is not None:
                response, seconds = served
                if self._sampled(values):
                    self._offer(ShadowJob(
                        route, method, path_qs, headers, body, "target",
                        (response.status, response.body), seconds,
                    ))  # fmt: skip
                return response
        started = time.perf_counter()
        response = await self._primary.send(method, path_qs, headers, body, route=route.name)
        seconds = time.perf_counter() - started
        if self._sampled(values):
            self._offer(ShadowJob(
                route, method, path_qs, headers, body, "source",
                (response.status, response.body), seconds,
                response.headers.get("Content-Encoding", ""),
            ))  # fmt: skip
        return response

    async def run(self) -> None:
        """The shadow workers (until cancelled)."""
        if self.shadow is not None:
            await self.shadow.run()

    def snapshot(self) -> dict[str, Any]:
        """``GET /-/shadow``: shadow totals and worst mismatches."""
        if self.shadow is None:
            return {"enabled": False}
        return {"enabled": True, **self.shadow.snapshot()}

    # canary ------------------------------------------------------------------------
    async def _canary(
        self, route: Route, body: bytes, phase: Phase, path_qs: str = ""
    ) -> tuple[UpstreamResponse, float] | None:
        """The new store's answer and its latency, or None to let the primary answer."""
        assert self.reader is not None
        started = time.perf_counter()
        primary = phase in NEW_STORE_PRIMARY
        try:
            answer = await asyncio.wait_for(
                self.reader.answer(route, body, path_qs, primary), self._canary_timeout
            )
        except CollectionUnknown as exc:
            if phase is not Phase.FINALIZED:
                return None  # the old store has every collection the app made: it answers
            # Finalized: the old store is no longer written (a collection dropped since is
            # still there), so the new store's "does not exist" is the answer.
            answer = exc.answer
        except NotServable:
            return None  # not a read the new store can take yet: not a canary read
        except Exception as exc:
            seconds = time.perf_counter() - started
            if isinstance(exc, CollectionMissing):
                self.reader.forget()
            name = self.reader.name_of(route.collection) or "unknown"
            error = type(exc).__name__  # a class name only: no user data in events
            self._events.emit(CanaryRead(route.name, name, "fallback", seconds, error))
            if phase is Phase.FINALIZED:
                # The old store is no longer written: its answer would be stale.
                raise UpstreamUnavailable(f"target failed: {error}") from exc
            return None
        seconds = time.perf_counter() - started
        self._events.emit(UpstreamCalled("target", route.name, seconds))
        self._events.emit(CanaryRead(route.name, answer.collection, "served", seconds))
        response = UpstreamResponse(answer.status, CIMultiDict(_JSON_HEADERS), answer.body)
        return response, seconds

    # shadow ------------------------------------------------------------------------
    def _sampled(self, values: LiveValues) -> bool:
        rate = values.shadow_active_rate
        return rate > 0.0 and (rate >= 1.0 or self._random.random() < rate)

    def _offer(self, job: ShadowJob) -> None:
        if self.shadow is not None:
            self.shadow.offer(job)  # never waits: a full queue drops (and counts) the job

    async def _ask_secondary(self, job: ShadowJob) -> Answer:
        """The other store's answer to the job's read (runs in a shadow worker)."""
        if job.served_by == "target":
            return await self._ask_source(job)
        assert self.reader is not None
        try:
            answer = await self.reader.answer(job.route, job.body, job.path_qs)
        except CollectionUnknown as exc:  # the new store's own answer: Chroma's 404
            answer = exc.answer
        return answer.status, answer.body

    async def _ask_source(self, job: ShadowJob) -> Answer:
        headers = CIMultiDict(job.headers)
        headers.popall("Accept-Encoding", None)  # compare plain JSON
        response = await self._primary.send(
            job.method, job.path_qs, headers, job.body, route=job.route.name
        )
        return _plain(response)


def _plain(response: UpstreamResponse) -> Answer:
    """Status and body; a gzip/deflate body is inflated (shadow workers only call this)."""
    return response.status, inflate(response.body, response.headers.get("Content-Encoding", ""))
