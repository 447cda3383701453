"""A Chroma v2 read on a collection UUID, answered from the target (Qdrant) in Chroma's format.

Glue between the request path and the read translation: the collection UUID of the
route is resolved to its :class:`CollectionSpec` through the target's catalog (the
spec's ``source_id`` is Chroma's UUID; cached for a few seconds), the body is parsed by
:mod:`proxy.chroma_reads`, the query runs through :mod:`adapters.qdrant_reads` on the
store's client thread (``store.run``, so a fault-injecting wrapper applies), and the
result is rendered as the exact JSON Chroma would send.

Errors Chroma itself gives for the same request (bad body, invalid filter, its
reproduced internal errors) become Chroma error answers; anything else (store down,
collection unknown to the target) is raised for the caller to fall back on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qdrant_client import QdrantClient

from adapters import qdrant_reads
from adapters.base import CollectionSpec, StoreUnavailable
from adapters.chroma_filter import InvalidArgument
from adapters.qdrant_layout import collection_name
from adapters.qdrant_reads import ChromaInternalError, ReadTarget
from proxy.chroma_reads import (
    BodyError,
    parse_get,
    parse_query,
    render_count,
    render_error,
    render_get,
    render_query,
)
from proxy.dialects.chroma import Route

SERVABLE_ROUTES = frozenset({"get", "query", "count"})
RETRY_SECONDS = 1.0
# Answers Chroma gives itself: the target reproduces them instead of falling back.
_CHROMA_ERRORS = (BodyError, InvalidArgument, ChromaInternalError)


class NotServable(Exception):
    """The target cannot answer this read (collection unknown to it or still empty)."""


@dataclass(frozen=True)
class TargetAnswer:
    """A Chroma-format answer produced from the target."""

    status: int
    body: bytes
    collection: str  # the collection's name (for labels), not its UUID


class TargetReader:
    """Answers get/query/count on a collection UUID from a Qdrant-backed store."""

    def __init__(
        self,
        store: Any,
        exact: bool = False,
        cache_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        ordered_scroll: bool = False,
    ) -> None:
        """``store`` is a QdrantStore, or a wrapper (FaultyStore) delegating ``run``.

        ``ordered_scroll`` lets ``get`` with a limit page by the ``seq`` order index; only
        safe once every point carries ``seq`` (points without it would be skipped), so
        off by default: the limit is then applied after a full filtered scan.
        """
        self._store = store
        self._exact = exact
        self._ordered_scroll = ordered_scroll
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._specs: dict[str, CollectionSpec] = {}
        self._loaded_at: float | None = None
        self._failed_at: float | None = None
        self._pending: asyncio.Future[None] | None = None

    def name_of(self, collection_id: str) -> str | None:
        """The cached name of a collection UUID (no I/O), or None."""
        spec = self._specs.get(collection_id)
        return None if spec is None else spec.key.name

    async def spec(self, collection_id: str) -> CollectionSpec | None:
        """The target's spec of a Chroma collection UUID; StoreUnavailable when unreadable.

        A known spec is served from the cache while a stale cache is re-read in the
        background; an unknown UUID waits for the one listing in flight (shared, and
        shielded so a caller's timeout does not cancel it for the others).
        """
        if self._pending is None and self._needs_reload(collection_id):
            self._pending = asyncio.ensure_future(self._reload())
        if collection_id not in self._specs and self._pending is not None:
            await asyncio.shield(self._pending)
        if collection_id not in self._specs and self._failed_at is not None:
            raise StoreUnavailable("the new store's catalog could not be read")
        return self._specs.get(collection_id)

    def _needs_reload(self, collection_id: str) -> bool:
        # One listing refreshes every UUID at once; after a failure, or for an unknown
        # UUID, the store is asked at most once a second so it cannot be hammered.
        now = self._clock()
        if self._failed_at is not None and now - self._failed_at < RETRY_SECONDS:
            return False
        if self._loaded_at is None:
            return True
        age = now - self._loaded_at
        missing = collection_id not in self._specs
        return age >= self._cache_seconds or (missing and age >= RETRY_SECONDS)

    async def _reload(self) -> None:
        try:
            specs: list[CollectionSpec] = await self._store.list_collections()
        except Exception:
            self._failed_at = self._clock()
            return
        finally:
            self._pending = None
        self._specs = {s.source_id: s for s in specs if s.source_id}
        self._loaded_at = self._clock()
        self._failed_at = None

    def forget(self) -> None:
        """Drop the cache (a collection vanished or changed under us)."""
        self._loaded_at = None

    async def answer(self, route: Route, body: bytes) -> TargetAnswer:
        """The target's Chroma-format answer; raises on store failure or NotServable."""
        if route.name not in SERVABLE_ROUTES:
            raise NotServable(f"route {route.name} is not translated")
        spec = await self.spec(route.collection)
        if spec is None:
            raise NotServable("collection unknown to the target")
        if spec.dimension is None:
            raise NotServable("collection has no records in the target yet")
        try:
            status, payload = 200, await self._read(spec, route.name, body)
        except _CHROMA_ERRORS as exc:
            status, payload = render_error(exc, route.collection)
        return TargetAnswer(status, payload, spec.key.name)

    async def _read(self, spec: CollectionSpec, verb: str, body: bytes) -> bytes:
        def target(client: QdrantClient) -> ReadTarget:
            return ReadTarget(
                client, collection_name(spec.key), spec.space, spec.dimension,
                ordered_scroll=self._ordered_scroll,
            )  # fmt: skip

        if verb == "count":
            n = await self._store.run(lambda c: qdrant_reads.count(target(c)))
            return render_count(int(n))
        if verb == "get":
            get = parse_get(body)
            records = await self._store.run(lambda c: qdrant_reads.get(target(c), get.request))
            return render_get(records, get.include)
        query = parse_query(body, exact=self._exact)
        hits = await self._store.run(lambda c: qdrant_reads.query(target(c), query.request))
        return render_query(hits, query.include)
