"""A Chroma v2 read on a collection UUID, answered from the target (Qdrant) in Chroma's format.

Glue between the request path and the read translation: the collection UUID of the
route is resolved to its :class:`CollectionSpec` through the target's catalog (the
spec's ``source_id`` is Chroma's UUID; cached for a few seconds), the body is parsed by
:mod:`proxy.dialects.chroma.reads`, the query runs through :mod:`adapters.qdrant_reads` on the
store's client thread (``store.run``, so a fault-injecting wrapper applies), and the
result is rendered as the exact JSON Chroma would send.

Collection-level reads (``get_collection`` by name, ``list_collections``,
``count_collections``) are answered from a fresh read of the target's catalog (never
the cache: a rename or drop must show at once) and rendered by
:mod:`proxy.dialects.chroma.collections` from each spec's captured Chroma object.

Errors Chroma itself gives for the same request (bad body, invalid filter, bad list
paging, its reproduced internal errors) become Chroma error answers; anything else
(store down, collection unknown to the target) is raised for the caller to fall back
on. A collection name the target does not know raises :class:`CollectionUnknown`,
which carries Chroma's own 404 answer: the request path falls back to the old store
(before finalized every collection write reaches it first, so its answer is
authoritative even while the applier lags; in finalized the 404 is the answer), the
shadow comparison uses the 404.

``get`` with a limit pages by the ``seq`` order index (``ordered_scroll``) once a
collection is known to have ``seq`` on every point; QdrantStore.upsert writes it on
every point, but points written by versions before it did would be skipped by an
``order_by`` scroll, so each collection is checked once (one exact count of points
lacking ``seq``) and falls back to a full filtered scan + sort while any lacks it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qdrant_client import QdrantClient

from adapters import qdrant_reads
from adapters.base import CollectionKey, CollectionMissing, CollectionSpec, StoreUnavailable
from adapters.chroma_filter import InvalidArgument
from adapters.qdrant_layout import collection_name
from adapters.qdrant_reads import ChromaInternalError, ReadTarget
from proxy.core.cpu_budget import cpu_section, metered
from proxy.dialects.chroma import collections as cc
from proxy.dialects.chroma.reads import (
    BodyError,
    parse_get,
    parse_query,
    render_count,
    render_error,
    render_get,
    render_query,
)
from proxy.dialects.chroma.routes import COLLECTION_READS, Route

RECORD_ROUTES = frozenset({"get", "query", "count"})
SERVABLE_ROUTES = RECORD_ROUTES | COLLECTION_READS
RETRY_SECONDS = 1.0
# Answers Chroma gives itself: the target reproduces them instead of falling back.
_CHROMA_ERRORS = (BodyError, InvalidArgument, ChromaInternalError)


class NotServable(Exception):
    """The target cannot answer this read (collection unknown to it or still empty)."""


class CollectionUnknown(NotServable):
    """A collection the target lacks; ``answer`` is Chroma's error for it (404, or 400 for
    a malformed collection id)."""

    def __init__(self, answer: TargetAnswer) -> None:
        super().__init__("collection unknown to the target")
        self.answer = answer


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
        ordered_scroll: bool = True,
    ) -> None:
        """``store`` is a QdrantStore, or a wrapper (FaultyStore) delegating ``run``.

        ``ordered_scroll`` lets ``get`` with a limit page by the ``seq`` order index in
        collections where every point carries ``seq`` (checked once per collection);
        off, the limit is applied after a full filtered scan.
        """
        self._store = store
        self._exact = exact
        self._ordered_scroll = ordered_scroll
        self._seq_complete: set[str] = set()  # Qdrant collections whose points all have seq
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._specs: dict[str, CollectionSpec] = {}
        self._loaded_at: float | None = None
        self._failed_at: float | None = None
        self._pending: asyncio.Future[None] | None = None

    def name_of(self, collection_id: str) -> str | None:
        """The cached name of a collection UUID, or of a cached name (no I/O), or None."""
        spec = self._specs.get(collection_id)
        if spec is not None:
            return spec.key.name
        named = any(s.key.name == collection_id for s in self._specs.values())
        return collection_id if collection_id and named else None

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

    def invalidate(self, collection_id: str) -> None:
        """This proxy changed or dropped the collection: its next read waits for a listing
        (a name dropped and created again must not resolve the old UUID to the new one)."""
        self._specs.pop(collection_id, None)
        self._loaded_at = None

    async def answer(
        self, route: Route, body: bytes, path_qs: str = "", primary: bool = False
    ) -> TargetAnswer:
        """The target's Chroma-format answer; raises on store failure or NotServable.

        ``path_qs`` (the request target with its query string) matters for
        ``list_collections`` only (``limit``/``offset``). ``primary``: the new store is
        the primary (cutover, finalized), so the cached catalog must not decide: a
        collection created or first written a moment ago is looked up again, and one
        with no records yet answers as Chroma does for an empty collection.
        """
        if route.name not in SERVABLE_ROUTES:
            raise NotServable(f"route {route.name} is not translated")
        if route.name in COLLECTION_READS:
            return await self._collection_read(route, path_qs)
        spec = await self.spec(route.collection)
        if primary and (spec is None or spec.dimension is None):
            spec = await self._spec_now(route.collection)
        if spec is None:
            if primary:
                raise CollectionUnknown(TargetAnswer(*_unknown_collection(route.collection), ""))
            raise NotServable("collection unknown to the target")
        if spec.dimension is None and not primary:
            raise NotServable("collection has no records in the target yet")
        try:
            payload = await self._read_or_empty(spec, route.name, body)
        except CollectionMissing:
            if not primary:
                raise
            spec = await self._spec_now(route.collection)  # renamed or dropped meanwhile
            if spec is None:
                raise CollectionUnknown(
                    TargetAnswer(*_unknown_collection(route.collection), "")
                ) from None
            payload = await self._read_or_empty(spec, route.name, body)
        except _CHROMA_ERRORS as exc:
            return TargetAnswer(*render_error(exc, route.collection), spec.key.name)
        return TargetAnswer(200, payload, spec.key.name)

    async def _spec_now(self, collection_id: str) -> CollectionSpec | None:
        """The spec from a catalog listing made now, not from the cache."""
        specs = await self._fresh_catalog()
        return next((s for s in specs if s.source_id == collection_id), None)

    async def _read_or_empty(self, spec: CollectionSpec, verb: str, body: bytes) -> bytes:
        """``_read``; a collection without records (no dimension yet) answers empty."""
        if spec.dimension is not None:
            return await self._read(spec, verb, body)
        if verb == "count":
            return render_count(0)
        if verb == "get":
            get = parse_get(body)
            return render_get([], get.include)
        query = parse_query(body, exact=self._exact)
        return render_query([[] for _ in query.request.vectors], query.include)

    async def _read(self, spec: CollectionSpec, verb: str, body: bytes) -> bytes:
        name = collection_name(spec.key)

        def target(client: QdrantClient, ordered: bool = False) -> ReadTarget:
            return ReadTarget(
                client, name, spec.space, spec.dimension,
                ordered_scroll=ordered and self._seq_ok(client, name),
            )  # fmt: skip

        # metered / cpu_section: a shadow read is charged the CPU it costs this process,
        # on the store's thread and here (proxy/core/cpu_budget.py); no-ops otherwise.
        if verb == "count":
            n = await self._store.run(metered(lambda c: qdrant_reads.count(target(c))))
            return render_count(int(n))
        if verb == "get":
            with cpu_section():
                get = parse_get(body)
            ordered = self._ordered_scroll and get.request.limit is not None
            records = await self._store.run(
                metered(lambda c: qdrant_reads.get(target(c, ordered), get.request))
            )
            with cpu_section():
                return render_get(records, get.include)
        with cpu_section():
            query = parse_query(body, exact=self._exact)
        hits = await self._store.run(
            metered(lambda c: qdrant_reads.query(target(c), query.request))
        )
        with cpu_section():
            return render_query(hits, query.include)

    def _seq_ok(self, client: QdrantClient, name: str) -> bool:
        """True when every point of ``name`` has ``seq`` (runs on the store's thread).

        Only a positive answer is remembered: every writer now sets ``seq`` and a
        rename copies it, so a complete collection stays complete.
        """
        if name not in self._seq_complete and qdrant_reads.all_have_seq(client, name):
            self._seq_complete.add(name)
        return name in self._seq_complete

    # collection-level reads ----------------------------------------------------------
    async def _collection_read(self, route: Route, path_qs: str) -> TargetAnswer:
        if route.name == "get_collection":
            return await self._get_collection(route)
        params = cc.ListParams()
        if route.name == "list_collections":
            try:
                params = cc.parse_list_params(cc.query_string(path_qs))
            except cc.QueryStringError as exc:
                return TargetAnswer(*cc.query_error(exc), "")
        specs = cc.in_scope(await self._fresh_catalog(), route.tenant, route.database)
        if route.name == "count_collections":
            return TargetAnswer(200, cc.render_count(len(specs)), "")
        objects = [cc.collection_object(s) for s in cc.page(specs, params)]
        if any(o is None for o in objects):
            raise NotServable("a collection's Chroma object was never captured")
        return TargetAnswer(200, cc.render_list([o for o in objects if o is not None]), "")

    async def _get_collection(self, route: Route) -> TargetAnswer:
        key = CollectionKey(route.collection, route.tenant, route.database)
        spec: CollectionSpec | None = await self._store.describe_collection(key)
        if spec is None:
            raise CollectionUnknown(TargetAnswer(*cc.not_found(route.collection), ""))
        obj = cc.collection_object(spec)
        if obj is None:
            raise NotServable("the collection's Chroma object was never captured")
        if spec.source_id:
            self._specs[spec.source_id] = spec
        return TargetAnswer(200, cc.render_collection(obj), spec.key.name)

    async def _fresh_catalog(self) -> list[CollectionSpec]:
        """Every spec, read now (list and count must see a create or drop at once)."""
        specs: list[CollectionSpec] = await self._store.list_collections()
        self._specs = {s.source_id: s for s in specs if s.source_id}
        self._loaded_at = self._clock()
        self._failed_at = None
        return specs


def _unknown_collection(collection_id: str) -> tuple[int, bytes]:
    """Chroma's answer to a record read on a collection id it does not hold."""
    try:
        uuid.UUID(collection_id)
    except ValueError:
        return render_error(InvalidArgument("Collection ID is not a valid UUIDv4"))
    return render_error(CollectionMissing(collection_id), collection_id)
