"""The ``VectorStore`` over any Qdrant engine, laid out as :mod:`adapters.qdrant_layout` says.

Written once against :class:`~adapters.qdrant_points.Points`; the engines' stores
(:class:`adapters.qdrant.QdrantStore`, :class:`adapters.qdrant_edge.EdgeStore`) add how
they open, which worker threads run the engine's blocking calls, how engine errors
translate, and what follows a write (Edge: its flush and optimize policy).

Collections are recorded in the catalog collection first; the physical collection is
created once the dimension is known (from the spec or the first upsert).
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import replace
from typing import TypeVar

from adapters import point_filter as pf
from adapters import qdrant_layout as layout
from adapters.base import (
    CollectionKey,
    CollectionSpec,
    Hit,
    Page,
    QueryRequest,
    Record,
    Space,
    StoreError,
    StoreRejected,
)
from adapters.chroma_order import JOURNAL_BASE, SEQ_FIELD, backfill_seq, seq_of
from adapters.qdrant_catalog import QdrantCatalog, copy_points
from adapters.qdrant_points import Only, PointData, Points, ScoredPoint, Search

T = TypeVar("T")
ErrorTranslation = Callable[[BaseException], StoreError | None]


class PointsStore:
    """``VectorStore`` over one engine's :class:`Points`, run on ``executor``."""

    #: ``upsert`` takes ``positions``: the records' places in the source's row order
    keeps_source_order = True

    def __init__(
        self, executor: Executor, points: Points, errors: ErrorTranslation, exact: bool
    ) -> None:
        self._executor = executor
        self._points = points
        self._errors = errors
        self._exact = exact
        self.catalog = QdrantCatalog()
        # specs whose physical collection is known to exist: spares two round trips per
        # upsert batch; dropped on our own delete/rename and on any failed upsert
        self._ready: dict[CollectionKey, CollectionSpec] = {}
        self._last_seq = 0
        # collection-level changes and seq allocation, when several worker threads run
        self._lock = threading.RLock()

    # -- plumbing -----------------------------------------------------------------------

    async def _call(self, fn: Callable[[Points], T]) -> T:
        """Run ``fn(points)`` on a worker thread, engine errors translated."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(self._translated, fn, self._points)
        )

    def _translated(self, fn: Callable[..., T], *args: object) -> T:
        try:
            return fn(*args)
        except BaseException as exc:
            error = self._errors(exc)
            if error is None or error is exc:
                raise
            raise error from exc

    def _after_write(self, p: Points, name: str) -> None:
        """Called on the worker after every record write to ``name`` (engine policy)."""

    # -- collections ----------------------------------------------------------------------

    async def create_collection(self, spec: CollectionSpec) -> None:
        """Record ``spec`` in the catalog (unless present) and create what the dimension allows."""
        await self._call(lambda p: self._create(p, spec))

    def _create(self, p: Points, spec: CollectionSpec) -> CollectionSpec:
        with self._lock:
            current = self.catalog.read(p, spec.key)
            if current is None:
                current = spec
                self.catalog.write(p, spec)
            elif current.dimension is None and spec.dimension is not None:
                current = current.with_dimension(spec.dimension)
                self.catalog.write(p, current)
            if current.source_object is None and spec.source_object is not None:
                # an entry written before source objects were kept learns it here (backfill)
                current = replace(current, source_object=spec.source_object)
                self.catalog.write(p, current)
            if current.dimension is not None:
                self.catalog.ensure_physical(p, current)
            return current

    async def describe_collection(self, key: CollectionKey) -> CollectionSpec | None:
        """The catalog's spec of ``key``, or None."""
        return await self._call(lambda p: self.catalog.read(p, key))

    async def list_collections(self) -> list[CollectionSpec]:
        """Every collection in the catalog."""
        return await self._call(self.catalog.all)

    async def modify_collection(self, old: CollectionKey, spec: CollectionSpec) -> None:
        """Replace metadata and/or rename (points are copied to the new physical name)."""
        await self._call(lambda p: self._modify(p, old, spec))

    def _modify(self, p: Points, old: CollectionKey, spec: CollectionSpec) -> None:
        with self._lock:
            current = self.catalog.require(p, old)
            self._ready.pop(old, None)
            self._ready.pop(spec.key, None)
            new = CollectionSpec(
                key=spec.key,
                space=current.space,  # a collection's space never changes in Chroma
                dimension=current.dimension,
                metadata=spec.metadata,
                configuration=spec.configuration if spec.configuration is not None
                else current.configuration,
                source_id=spec.source_id or current.source_id,
                source_object=spec.source_object or current.source_object,
            )
            if spec.key == old:
                self.catalog.write(p, new)
                return
            if self.catalog.read(p, spec.key) is not None:
                raise StoreRejected(f"collection {spec.key} already exists")
            self.catalog.write(p, new)
            if new.dimension is not None:
                self.catalog.ensure_physical(p, new)
                copy_points(p, layout.collection_name(old), layout.collection_name(spec.key))
            self._drop(p, old)

    async def delete_collection(self, key: CollectionKey) -> None:
        """Drop the physical collection and the catalog entry; a no-op when already gone."""
        await self._call(lambda p: self._drop(p, key))

    def _drop(self, p: Points, key: CollectionKey) -> None:
        with self._lock:
            self._ready.pop(key, None)
            self.catalog.remove(p, key)

    # -- record writes --------------------------------------------------------------------

    async def upsert(
        self,
        spec: CollectionSpec,
        records: Sequence[Record],
        positions: Sequence[int] | None = None,
    ) -> None:
        """Replace whole points; creates the collection (and learns its dimension) first.

        ``positions`` are the records' places in the source's row order (backfill knows
        them); without them, existing points keep their place and new ones go last.
        """
        if records:
            await self._call(lambda p: self._upsert(p, spec, records, positions))

    def _seqs(
        self, p: Points, name: str, records: Sequence[Record], positions: Sequence[int] | None
    ) -> list[int]:
        if positions is not None:
            return [backfill_seq(i) for i in positions]
        found = p.retrieve(name, [layout.point_id(r.id) for r in records], Only((SEQ_FIELD,)))
        existing = {str(q.id): seq_of(q.payload) for q in found}
        seqs = []
        for record in records:
            seq = existing.get(layout.point_id(record.id))
            seqs.append(seq if seq is not None else self._next_seq())
        return seqs

    def _next_seq(self) -> int:
        # Microseconds since the epoch, never repeating: increases across restarts too, so
        # rows first written later always sort after earlier ones, like Chroma's order.
        with self._lock:
            self._last_seq = max(self._last_seq + 1, JOURNAL_BASE + time.time_ns() // 1000)
            return self._last_seq

    def _upsert(
        self,
        p: Points,
        spec: CollectionSpec,
        records: Sequence[Record],
        positions: Sequence[int] | None = None,
    ) -> None:
        vectors = [r.embedding for r in records]
        if any(v is None for v in vectors):
            raise StoreRejected("every record written to Qdrant needs an embedding")
        current = self._ready.get(spec.key)
        if current is None:
            current = self.catalog.read(p, spec.key) or spec
            dimension = current.dimension or len(vectors[0])  # type: ignore[arg-type]
            current = self._create(p, current.with_dimension(dimension))
        for record in records:
            if len(record.embedding) != current.dimension:  # type: ignore[arg-type]
                raise StoreRejected(
                    f"record {record.id!r}: embedding dimension "
                    f"{len(record.embedding)} != {current.dimension}"  # type: ignore[arg-type]
                )
        name = layout.collection_name(spec.key)
        seqs = self._seqs(p, name, records, positions)
        points = [
            PointData(
                id=layout.point_id(r.id),
                vector=r.embedding.tolist(),  # type: ignore[union-attr]
                payload={**layout.record_payload(r, current.space), SEQ_FIELD: seq},
            )
            for r, seq in zip(records, seqs, strict=True)
        ]
        self._ready.pop(spec.key, None)
        p.upsert(name, points)
        self._ready[spec.key] = current
        self._after_write(p, name)

    async def delete(self, key: CollectionKey, ids: Sequence[str]) -> None:
        """Delete points by Chroma id; missing ids or collections are ignored."""
        if ids:
            await self._call(lambda p: self._delete(p, key, ids))

    def _delete(self, p: Points, key: CollectionKey, ids: Sequence[str]) -> None:
        name = layout.collection_name(key)
        if p.collection_exists(name):
            p.delete(name, [layout.point_id(i) for i in ids])
            self._after_write(p, name)

    # -- record reads ---------------------------------------------------------------------

    async def get(self, key: CollectionKey, ids: Sequence[str]) -> list[Record]:
        """Records for the ids that exist, in the order asked, each once."""
        return await self._call(lambda p: self._get(p, key, ids))

    def _get(self, p: Points, key: CollectionKey, ids: Sequence[str]) -> list[Record]:
        spec = self.catalog.require(p, key)
        wanted = list(dict.fromkeys(ids))
        if spec.dimension is None or not wanted:
            return []
        points = p.retrieve(
            layout.collection_name(key), [layout.point_id(i) for i in wanted], True, True
        )
        by_id = {r.id: r for r in (layout.record_from_point(q.payload or {}, q.vector)
                                   for q in points)}
        return [by_id[i] for i in wanted if i in by_id]

    async def scroll(self, key: CollectionKey, cursor: str | None, limit: int) -> Page:
        """Points in point-id order; the cursor is Qdrant's next page offset."""
        return await self._call(lambda p: self._scroll(p, key, cursor, limit))

    def _scroll(self, p: Points, key: CollectionKey, cursor: str | None, limit: int) -> Page:
        spec = self.catalog.require(p, key)
        if spec.dimension is None:
            return Page(records=[], next_cursor=None)
        points, next_offset = p.scroll(
            layout.collection_name(key), limit, cursor, with_vector=True
        )
        records = [layout.record_from_point(q.payload or {}, q.vector) for q in points]
        return Page(records=records, next_cursor=next_offset)

    async def count(self, key: CollectionKey) -> int:
        """Exact number of points."""
        return await self._call(lambda p: self._count(p, key))

    def _count(self, p: Points, key: CollectionKey) -> int:
        spec = self.catalog.require(p, key)
        if spec.dimension is None:
            return 0
        return p.count(layout.collection_name(key))

    async def query(self, key: CollectionKey, request: QueryRequest) -> list[list[Hit]]:
        """Nearest neighbours per query vector, distances in Chroma's convention."""
        if request.where or request.where_document:
            raise StoreRejected(
                f"{type(self).__name__}.query does not translate where/where_document"
            )
        return await self._call(lambda p: self._query(p, key, request))

    def _query(self, p: Points, key: CollectionKey, request: QueryRequest) -> list[list[Hit]]:
        spec = self.catalog.require(p, key)
        if spec.dimension is None or not request.vectors:
            return [[] for _ in request.vectors]
        flt = None
        if request.ids is not None:
            flt = pf.Clause(must=(pf.HasId(tuple(layout.point_id(i) for i in request.ids)),))
        # cosine keeps the original vector in the payload; the stored one is normalised
        with_vectors = request.with_embeddings and spec.space is not Space.COSINE
        searches = [
            Search(vector=[float(x) for x in v], limit=request.k, filter=flt,
                   with_vector=with_vectors, exact=self._exact or request.exact)
            for v in request.vectors
        ]
        answers = p.search(layout.collection_name(key), searches)
        return [[_hit(q, spec.space, request.with_embeddings) for q in a] for a in answers]


def _hit(point: ScoredPoint, space: Space, with_embeddings: bool) -> Hit:
    record = layout.record_from_point(point.payload or {}, point.vector)
    if not with_embeddings:
        record = Record(record.id, None, record.metadata, record.document, record.uri)
    score = float(point.score)
    distance = score * score if space is Space.L2 else 1.0 - score
    return Hit(record=record, distance=distance)
