"""Qdrant as a ``VectorStore``, laid out as :mod:`adapters.qdrant_layout` prescribes.

Every call goes through qdrant-client's synchronous ``QdrantClient`` on ONE dedicated
worker thread: local mode (``:memory:`` / ``path=``) is neither thread-safe nor
non-blocking (its SQLite connection belongs to the thread that opened it), and the same
code path serves a remote server by URL. Other modules that need extra client calls
(filter translation, reads) run them through :meth:`QdrantStore.run`, on the same thread
and with the same error translation; ``store.catalog`` (:mod:`adapters.qdrant_catalog`)
gives them collection specs inside such a function.

Collections are recorded in the catalog collection first; the physical collection is
created once the dimension is known (from the spec or the first upsert).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from qdrant_client import QdrantClient
from qdrant_client.http import models as qm

from adapters import qdrant_layout as layout
from adapters.base import (
    CollectionKey,
    CollectionSpec,
    Hit,
    Page,
    QueryRequest,
    Record,
    Space,
    StoreRejected,
)
from adapters.chroma_order import JOURNAL_BASE, SEQ_FIELD, backfill_seq, seq_of
from adapters.qdrant_catalog import QdrantCatalog, copy_points, is_local
from adapters.qdrant_errors import translate_errors

T = TypeVar("T")


class QdrantStore:
    """``VectorStore`` over one Qdrant (server by URL, or embedded local mode)."""

    #: ``upsert`` takes ``positions``: the records' places in the source's row order
    keeps_source_order = True

    def __init__(self, executor: ThreadPoolExecutor, client: QdrantClient, exact: bool) -> None:
        """Use :meth:`open`; this wraps an already opened client living on ``executor``."""
        self._executor = executor
        self._client = client
        self._exact = exact
        self._local = is_local(client)
        self.catalog = QdrantCatalog(self._local)
        # specs whose physical collection is known to exist: spares two round trips per
        # upsert batch; dropped on our own delete/rename and on any failed upsert
        self._ready: dict[CollectionKey, CollectionSpec] = {}
        self._last_seq = 0

    @classmethod
    def open(
        cls,
        url: str | None = None,
        api_key: str | None = None,
        path: Path | str | None = None,
        timeout: float = 10.0,
        exact: bool = False,
    ) -> QdrantStore:
        """Connect to ``url`` (REST), else open ``path`` (or ``":memory:"``) in local mode.

        Blocks while a local ``path`` is loaded; meant for start-up.
        """
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qdrant")

        def connect() -> QdrantClient:
            if url is not None:
                return QdrantClient(
                    url=url,
                    api_key=api_key,
                    timeout=max(1, round(timeout)),
                    check_compatibility=False,  # no network call at start; health() checks
                )
            return QdrantClient(location=":memory:" if path in (None, ":memory:") else None,
                                path=None if path in (None, ":memory:") else str(path))

        try:
            # local mode's SQLite connection belongs to the thread that opens it
            client = executor.submit(translate_errors(connect)).result()
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(executor, client, exact)

    # -- plumbing -----------------------------------------------------------------------

    @property
    def client(self) -> QdrantClient:
        """The client; only touch it inside a function given to :meth:`run`."""
        return self._client

    async def run(self, fn: Callable[[QdrantClient], T]) -> T:
        """Run ``fn(client)`` on the store's worker thread, engine errors translated."""
        loop = asyncio.get_running_loop()
        call = translate_errors(functools.partial(fn, self._client))
        return await loop.run_in_executor(self._executor, call)

    async def health(self) -> bool:
        """True when the store answers a cheap call."""
        try:
            await self.run(lambda c: c.get_collections())
        except Exception:
            return False
        return True

    async def close(self) -> None:
        """Close the client (releases a local ``path`` lock) and stop the worker thread."""
        with contextlib.suppress(Exception):
            await self.run(lambda c: c.close())
        self._executor.shutdown(wait=True)

    # -- collections ----------------------------------------------------------------------

    async def create_collection(self, spec: CollectionSpec) -> None:
        """Record ``spec`` in the catalog (unless present) and create what the dimension allows."""
        await self.run(lambda c: self._create(c, spec))

    def _create(self, c: QdrantClient, spec: CollectionSpec) -> CollectionSpec:
        current = self.catalog.read(c, spec.key)
        if current is None:
            current = spec
            self.catalog.write(c, spec)
        elif current.dimension is None and spec.dimension is not None:
            current = current.with_dimension(spec.dimension)
            self.catalog.write(c, current)
        if current.source_object is None and spec.source_object is not None:
            # an entry written before source objects were kept learns it here (backfill)
            current = replace(current, source_object=spec.source_object)
            self.catalog.write(c, current)
        if current.dimension is not None:
            self.catalog.ensure_physical(c, current)
        return current

    async def describe_collection(self, key: CollectionKey) -> CollectionSpec | None:
        """The catalog's spec of ``key``, or None."""
        return await self.run(lambda c: self.catalog.read(c, key))

    async def list_collections(self) -> list[CollectionSpec]:
        """Every collection in the catalog."""
        return await self.run(self.catalog.all)

    async def modify_collection(self, old: CollectionKey, spec: CollectionSpec) -> None:
        """Replace metadata and/or rename (points are copied to the new physical name)."""
        await self.run(lambda c: self._modify(c, old, spec))

    def _modify(self, c: QdrantClient, old: CollectionKey, spec: CollectionSpec) -> None:
        current = self.catalog.require(c, old)
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
            self.catalog.write(c, new)
            return
        if self.catalog.read(c, spec.key) is not None:
            raise StoreRejected(f"collection {spec.key} already exists")
        self.catalog.write(c, new)
        if new.dimension is not None:
            self.catalog.ensure_physical(c, new)
            copy_points(c, layout.collection_name(old), layout.collection_name(spec.key))
        self._drop(c, old)

    async def delete_collection(self, key: CollectionKey) -> None:
        """Drop the physical collection and the catalog entry; a no-op when already gone."""
        await self.run(lambda c: self._drop(c, key))

    def _drop(self, c: QdrantClient, key: CollectionKey) -> None:
        self._ready.pop(key, None)
        self.catalog.remove(c, key)

    # -- records ------------------------------------------------------------------------

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
            await self.run(lambda c: self._upsert(c, spec, records, positions))

    def _seqs(
        self, c: QdrantClient, name: str, records: Sequence[Record], positions: Sequence[int] | None
    ) -> list[int]:
        if positions is not None:
            return [backfill_seq(p) for p in positions]
        found = c.retrieve(
            name, [layout.point_id(r.id) for r in records], with_payload=[SEQ_FIELD]
        )
        existing = {str(p.id): seq_of(p.payload) for p in found}
        seqs = []
        for record in records:
            seq = existing.get(layout.point_id(record.id))
            seqs.append(seq if seq is not None else self._next_seq())
        return seqs

    def _next_seq(self) -> int:
        # Microseconds since the epoch, never repeating: increases across restarts too, so
        # rows first written later always sort after earlier ones, like Chroma's order.
        self._last_seq = max(self._last_seq + 1, JOURNAL_BASE + time.time_ns() // 1000)
        return self._last_seq

    def _upsert(
        self,
        c: QdrantClient,
        spec: CollectionSpec,
        records: Sequence[Record],
        positions: Sequence[int] | None = None,
    ) -> None:
        vectors = [r.embedding for r in records]
        if any(v is None for v in vectors):
            raise StoreRejected("every record written to Qdrant needs an embedding")
        current = self._ready.get(spec.key)
        if current is None:
            current = self.catalog.read(c, spec.key) or spec
            dimension = current.dimension or len(vectors[0])  # type: ignore[arg-type]
            current = self._create(c, current.with_dimension(dimension))
        for record in records:
            if len(record.embedding) != current.dimension:  # type: ignore[arg-type]
                raise StoreRejected(
                    f"record {record.id!r}: embedding dimension "
                    f"{len(record.embedding)} != {current.dimension}"  # type: ignore[arg-type]
                )
        seqs = self._seqs(c, layout.collection_name(spec.key), records, positions)
        points = [
            qm.PointStruct(
                id=layout.point_id(r.id),
                vector=r.embedding.tolist(),  # type: ignore[union-attr]
                payload={**layout.record_payload(r, current.space), SEQ_FIELD: seq},
            )
            for r, seq in zip(records, seqs, strict=True)
        ]
        self._ready.pop(spec.key, None)
        c.upsert(layout.collection_name(spec.key), points, wait=True)
        self._ready[spec.key] = current

    async def delete(self, key: CollectionKey, ids: Sequence[str]) -> None:
        """Delete points by Chroma id; missing ids or collections are ignored."""
        if ids:
            await self.run(lambda c: self._delete(c, key, ids))

    @staticmethod
    def _delete(c: QdrantClient, key: CollectionKey, ids: Sequence[str]) -> None:
        name = layout.collection_name(key)
        if c.collection_exists(name):
            selector = qm.PointIdsList(points=[layout.point_id(i) for i in ids])
            c.delete(name, selector, wait=True)

    async def get(self, key: CollectionKey, ids: Sequence[str]) -> list[Record]:
        """Records for the ids that exist, in the order asked, each once."""
        return await self.run(lambda c: self._get(c, key, ids))

    def _get(self, c: QdrantClient, key: CollectionKey, ids: Sequence[str]) -> list[Record]:
        spec = self.catalog.require(c, key)
        wanted = list(dict.fromkeys(ids))
        if spec.dimension is None or not wanted:
            return []
        points = c.retrieve(
            layout.collection_name(key),
            [layout.point_id(i) for i in wanted],
            with_payload=True,
            with_vectors=True,
        )
        by_id = {r.id: r for r in (layout.record_from_point(p.payload or {}, p.vector)
                                   for p in points)}
        return [by_id[i] for i in wanted if i in by_id]

    async def scroll(self, key: CollectionKey, cursor: str | None, limit: int) -> Page:
        """Points in point-id order; the cursor is Qdrant's next page offset."""
        return await self.run(lambda c: self._scroll(c, key, cursor, limit))

    def _scroll(self, c: QdrantClient, key: CollectionKey, cursor: str | None,
                limit: int) -> Page:
        spec = self.catalog.require(c, key)
        if spec.dimension is None:
            return Page(records=[], next_cursor=None)
        offset: Any = None if cursor is None else (int(cursor) if cursor.isdigit() else cursor)
        points, next_offset = c.scroll(
            layout.collection_name(key), limit=limit, offset=offset,
            with_payload=True, with_vectors=True,
        )
        records = [layout.record_from_point(p.payload or {}, p.vector) for p in points]
        return Page(records=records, next_cursor=None if next_offset is None else str(next_offset))

    async def count(self, key: CollectionKey) -> int:
        """Exact number of points."""
        return await self.run(lambda c: self._count(c, key))

    def _count(self, c: QdrantClient, key: CollectionKey) -> int:
        spec = self.catalog.require(c, key)
        if spec.dimension is None:
            return 0
        return c.count(layout.collection_name(key), exact=True).count

    async def query(self, key: CollectionKey, request: QueryRequest) -> list[list[Hit]]:
        """Nearest neighbours per query vector, distances in Chroma's convention."""
        if request.where or request.where_document:
            raise StoreRejected("QdrantStore.query does not translate where/where_document")
        return await self.run(lambda c: self._query(c, key, request))

    def _query(self, c: QdrantClient, key: CollectionKey, request: QueryRequest) -> list[list[Hit]]:
        spec = self.catalog.require(c, key)
        if spec.dimension is None or not request.vectors:
            return [[] for _ in request.vectors]
        flt = None
        if request.ids is not None:
            flt = qm.Filter(must=[qm.HasIdCondition(has_id=[layout.point_id(i)
                                                            for i in request.ids])])
        # local mode is always exact and warns about search params
        exact = (self._exact or request.exact) and not self._local
        params = qm.SearchParams(exact=True) if exact else None
        # cosine keeps the original vector in the payload; the stored one is normalised
        with_vectors = request.with_embeddings and spec.space is not Space.COSINE
        batch = [
            qm.QueryRequest(query=[float(x) for x in v], filter=flt, limit=request.k,
                            params=params, with_payload=True, with_vector=with_vectors)
            for v in request.vectors
        ]
        answers = c.query_batch_points(layout.collection_name(key), batch)
        return [[self._hit(p, spec.space, request.with_embeddings) for p in a.points]
                for a in answers]

    @staticmethod
    def _hit(point: qm.ScoredPoint, space: Space, with_embeddings: bool) -> Hit:
        record = layout.record_from_point(point.payload or {}, point.vector)
        if not with_embeddings:
            record = Record(record.id, None, record.metadata, record.document, record.uri)
        score = float(point.score)
        distance = score * score if space is Space.L2 else 1.0 - score
        return Hit(record=record, distance=distance)

