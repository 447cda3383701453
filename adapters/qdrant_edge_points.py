""":class:`~adapters.qdrant_points.Points` over Qdrant Edge: one ``EdgeShard`` per collection.

On disk, under the store's directory::

    shards/<name>/   one shard per Qdrant collection name (the catalog's too); <name> is
                     the collection name percent-quoted (a leading dot too)
    tmp/             shards being created, dropped or optimized; cleared at open

A shard is built in ``tmp/`` and renamed into ``shards/`` once complete, so a crash
never leaves half a collection. Every call on a shard holds that shard's gate (a lock):
Edge holds the GIL through each call anyway, so this costs no parallelism, and it lets
:mod:`adapters.qdrant_edge_optimize` swap a shard between two calls.

Also the renderer of the neutral filter form into Edge's classes and the translation of
Edge's errors (it raises plain ``Exception`` with Qdrant's message) into the store errors.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import qdrant_edge as qe

from adapters import point_filter as pf
from adapters.base import CollectionMissing, StoreError, StoreRejected, StoreUnavailable
from adapters.qdrant_points import (
    AllBut,
    Only,
    PayloadSelection,
    PointData,
    ScoredPoint,
    Search,
    StoredPoint,
)

_SCHEMA = {"keyword": qe.PayloadSchemaType.Keyword, "integer": qe.PayloadSchemaType.Integer}
_DISTANCE = {"Euclid": qe.Distance.Euclid, "Cosine": qe.Distance.Cosine, "Dot": qe.Distance.Dot}
# Qdrant's messages for input it refuses; anything else the engine raises is transient
_REJECTED = ("Wrong input", "Bad input", "Bad request", "Vector dimension error",
             "Not found", "No range index", "invalid JSON path")


@dataclass(frozen=True)
class EdgeOptions:
    """How Edge shards are built and maintained (index, flush and optimize policy).

    See :mod:`adapters.qdrant_edge` for what each policy costs and guarantees.
    """

    #: worker threads running engine calls (Edge holds the GIL per call: 1-2 suffice)
    workers: int = 2
    #: flush (fsync) after every write before it returns: survives a host crash too
    flush_on_write: bool = False
    #: otherwise flush every shard at most this often, after a write (None: only at close)
    flush_interval_seconds: float | None = 10.0
    #: optimize a collection in the background once this many of its points are not in an
    #: HNSW index (None: only when asked, ``EdgeStore.optimize``)
    optimize_threshold: int | None = 20_000
    #: threads the optimizer process builds HNSW with (0: every core)
    indexing_threads: int = 1
    #: HNSW graph: edges per node, and candidates while building
    hnsw_m: int = 16
    hnsw_ef_construct: int = 100
    #: segments smaller than this (KB of vectors) are searched by full scan, not HNSW
    full_scan_threshold_kb: int = 10_000
    #: segments smaller than this (KB of vectors) are not indexed (None: Qdrant's default)
    indexing_threshold_kb: int | None = None

    def shard_config(self, size: int, distance: str) -> qe.EdgeConfig:
        """The ``EdgeConfig`` of a new shard (WAL always on)."""
        hnsw = qe.HnswIndexConfig(
            m=self.hnsw_m, ef_construct=self.hnsw_ef_construct,
            full_scan_threshold=self.full_scan_threshold_kb,
            max_indexing_threads=self.indexing_threads,
        )  # fmt: skip
        optimizers = qe.EdgeOptimizersConfig(indexing_threshold=self.indexing_threshold_kb)
        return qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=size, distance=_DISTANCE[distance]),
            hnsw_config=hnsw, optimizers=optimizers, wal_enabled=True,
        )  # fmt: skip


def translate(exc: BaseException) -> StoreError | None:
    """The store error for an Edge failure, or None when ``exc`` is none of the engine's."""
    if isinstance(exc, StoreError):
        return exc
    if type(exc).__name__ == "PanicException":  # pyo3: a Rust panic, a BaseException
        return StoreUnavailable(f"qdrant edge panicked: {exc}")
    if not isinstance(exc, Exception):
        return None
    text = str(exc)
    if isinstance(exc, TypeError | ValueError) or text.startswith(_REJECTED):
        return StoreRejected(f"qdrant edge refused the input: {text}")
    if "WouldBlock" in text:
        return StoreUnavailable(f"qdrant edge storage is in use by another process: {text}")
    if type(exc) is Exception or isinstance(exc, OSError):
        return StoreUnavailable(f"qdrant edge failed: {text}")
    return None


def dir_name(collection: str) -> str:
    """The shard directory of a Qdrant collection name (no separators, no leading dot)."""
    quoted = quote(collection, safe="~")
    return "%2E" + quoted[1:] if quoted.startswith(".") else quoted


def render_filter(clause: pf.Clause) -> qe.Filter:
    """Edge's ``Filter`` of a neutral clause."""
    return qe.Filter(
        must=[render_condition(c) for c in clause.must] or None,
        should=[render_condition(c) for c in clause.should] or None,
        must_not=[render_condition(c) for c in clause.must_not] or None,
    )


def render_condition(cond: pf.Condition) -> Any:
    """Edge's condition of one neutral condition."""
    if isinstance(cond, pf.Clause):
        return render_filter(cond)
    if isinstance(cond, pf.Match):
        return qe.FieldCondition(key=cond.path, match=qe.MatchValue(cond.value))
    if isinstance(cond, pf.MatchAny):
        return qe.FieldCondition(key=cond.path, match=qe.MatchAny(list(cond.values)))
    if isinstance(cond, pf.Range):
        rng = qe.RangeFloat(gt=cond.gt, gte=cond.gte, lt=cond.lt, lte=cond.lte)
        return qe.FieldCondition(key=cond.path, range=rng)
    if isinstance(cond, pf.HasId):
        return qe.HasIdCondition(set(cond.ids))
    return qe.IsEmptyCondition(cond.path)


def _optional(clause: pf.Clause | None) -> qe.Filter | None:
    return None if clause is None else render_filter(clause)


def _payload(selection: PayloadSelection) -> bool | list[str] | qe.PayloadSelector:
    if isinstance(selection, Only):
        return list(selection.keys)
    if isinstance(selection, AllBut):
        return qe.PayloadSelector.Exclude(list(selection.keys))
    return selection


class EdgePoints:
    """The shards under one directory, opened on first use and kept open until close."""

    def __init__(self, root: Path, options: EdgeOptions) -> None:
        self.root = root
        self.options = options
        self.shards_dir = root / "shards"
        self.tmp_dir = root / "tmp"
        self.shards_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(exist_ok=True)
        self._open: dict[str, qe.EdgeShard] = {}
        self._gates: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()  # guards the two dicts above
        #: names under optimization -> ids written since its copy (qdrant_edge_optimize)
        self.dirty: dict[str, set[str]] = {}

    def path(self, name: str) -> Path:
        return self.shards_dir / dir_name(name)

    def scratch(self, purpose: str) -> Path:
        """A fresh path in ``tmp/`` (not created)."""
        return self.tmp_dir / f"{purpose}-{uuid.uuid4().hex}"

    @contextlib.contextmanager
    def gate(self, name: str) -> Iterator[qe.EdgeShard]:
        """The open shard of ``name``, held exclusively for the duration of the block."""
        with self.lock_of(name):
            yield self._shard(name)

    def lock_of(self, name: str) -> threading.Lock:
        """The gate of ``name`` itself (to hold it without opening the shard)."""
        with self._lock:
            return self._gates.setdefault(name, threading.Lock())

    def _shard(self, name: str) -> qe.EdgeShard:
        shard = self._open.get(name)
        if shard is not None:
            return shard
        path = self.path(name)
        if not (path / "edge_config.json").exists():
            raise CollectionMissing(f"Collection {name} not found")
        shard = qe.EdgeShard.load(str(path))
        with self._lock:
            self._open[name] = shard
        return shard

    def replace_open(self, name: str, shard: qe.EdgeShard | None) -> None:
        """Swap the open shard of ``name`` (inside its gate; the optimizer's swap)."""
        with self._lock:
            if shard is None:
                self._open.pop(name, None)
            else:
                self._open[name] = shard

    def open_names(self) -> list[str]:
        with self._lock:
            return list(self._open)

    def close(self) -> None:
        """Flush and close every open shard."""
        for name in self.open_names():
            with self.gate(name) as shard:
                shard.flush()
                shard.close()
                self.replace_open(name, None)

    # -- maintenance --------------------------------------------------------------------

    def flush(self, name: str) -> None:
        with self.gate(name) as shard:
            shard.flush()

    def unindexed(self, name: str) -> int:
        """Points of ``name`` not (yet) in an HNSW index."""
        with self.gate(name) as shard:
            info = shard.info()
        return info.points_count - info.indexed_vectors_count

    # -- Points -------------------------------------------------------------------------

    def collection_exists(self, name: str) -> bool:
        return name in self._open or (self.path(name) / "edge_config.json").exists()

    def create_collection(
        self, name: str, size: int, distance: str, indexes: Sequence[tuple[str, str]] = ()
    ) -> None:
        building = self.scratch("creating")
        shard = qe.EdgeShard.create(str(building), self.options.shard_config(size, distance))
        try:
            for field, schema in indexes:
                shard.update(qe.UpdateOperation.create_field_index(field, _SCHEMA[schema]))
            shard.flush()
        finally:
            shard.close()
        with self.lock_of(name):
            if self.collection_exists(name):
                shutil.rmtree(building)
                raise StoreRejected(f"collection {name} already exists")
            building.rename(self.path(name))

    def drop_collection(self, name: str) -> None:
        with self.lock_of(name):
            self.dirty.pop(name, None)  # an optimization in flight is discarded
            shard = self._open.get(name)
            if shard is not None:
                shard.close()
                self.replace_open(name, None)
            path = self.path(name)
            if path.exists():
                doomed = self.scratch("dropped")
                path.rename(doomed)
                shutil.rmtree(doomed, ignore_errors=True)

    def upsert(self, name: str, points: Sequence[PointData]) -> None:
        batch = [qe.Point(p.id, p.vector, p.payload) for p in points]
        with self.gate(name) as shard:
            shard.update(qe.UpdateOperation.upsert_points(batch))
            self._written(name, shard, [p.id for p in points])

    def delete(self, name: str, ids: Sequence[str]) -> None:
        with self.gate(name) as shard:
            shard.update(qe.UpdateOperation.delete_points(list(ids)))
            self._written(name, shard, ids)

    def _written(self, name: str, shard: qe.EdgeShard, ids: Sequence[str]) -> None:
        if self.options.flush_on_write:
            shard.flush()
        written = self.dirty.get(name)
        if written is not None:
            written.update(ids)

    def retrieve(
        self, name: str, ids: Sequence[str], with_payload: PayloadSelection = True,
        with_vector: bool = False,
    ) -> list[StoredPoint]:
        with self.gate(name) as shard:
            found = shard.retrieve(list(ids), _payload(with_payload), with_vector)
        return cast(list[StoredPoint], found)

    def scroll(
        self, name: str, limit: int, offset: str | None = None, filter: pf.Clause | None = None,
        with_payload: PayloadSelection = True, with_vector: bool = False,
    ) -> tuple[list[StoredPoint], str | None]:
        request = qe.ScrollRequest(
            offset=offset, limit=limit, filter=_optional(filter),
            with_payload=_payload(with_payload), with_vector=with_vector,
        )  # fmt: skip
        with self.gate(name) as shard:
            points, next_offset = shard.scroll(request)
        return cast(list[StoredPoint], points), None if next_offset is None else str(next_offset)

    def scroll_ordered(
        self, name: str, key: str, limit: int, start_from: int | None = None,
        filter: pf.Clause | None = None, with_payload: PayloadSelection = True,
        with_vector: bool = False,
    ) -> list[StoredPoint]:
        request = qe.ScrollRequest(
            limit=limit, filter=_optional(filter), order_by=qe.OrderBy(key, start_from=start_from),
            with_payload=_payload(with_payload), with_vector=with_vector,
        )  # fmt: skip
        with self.gate(name) as shard:
            points, _ = shard.scroll(request)
        return cast(list[StoredPoint], points)

    def count(self, name: str, filter: pf.Clause | None = None) -> int:
        with self.gate(name) as shard:
            return shard.count(qe.CountRequest(exact=True, filter=_optional(filter)))

    def search(self, name: str, searches: Sequence[Search]) -> list[list[ScoredPoint]]:
        requests = [_query_request(s) for s in searches]
        with self.gate(name) as shard:
            if len(requests) == 1:
                return [cast(list[ScoredPoint], shard.query(requests[0]))]
            answers = shard.query_batch(qe.QueryBatchRequest(requests))
        return [cast(list[ScoredPoint], a) for a in answers]


def _query_request(search: Search) -> qe.QueryRequest:
    return qe.QueryRequest(
        limit=search.limit, offset=search.offset or None, query=qe.Query.Nearest(search.vector),
        filter=_optional(search.filter), score_threshold=search.score_threshold,
        params=qe.SearchParams(exact=True) if search.exact else None,
        with_payload=_payload(search.with_payload), with_vector=search.with_vector,
    )  # fmt: skip
