"""Chroma-semantics ``get`` / ``query`` / ``count`` answered from Qdrant.

Pure and synchronous over any engine's :class:`~adapters.qdrant_points.Points` (a plain
``QdrantClient`` is wrapped in :class:`~adapters.qdrant_client_points.ClientPoints`; the
Edge store hands out its ``EdgePoints``): run it on the store's worker (``store.run``).
Filters go through :mod:`adapters.qdrant_filter`; whatever Qdrant cannot select exactly
(``where_document``, float ``$contains``, chroma#7491 bounds, odd keys) is over-fetched
and post-filtered with :mod:`adapters.chroma_filter`, so answers equal Chroma's.

Row order of ``get`` is Chroma's insertion order, kept in the ``seq`` payload field
(:mod:`adapters.chroma_order`). Query ties (equal distances) may come back in another
order than Chroma's: a documented difference.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from qdrant_client import QdrantClient

from adapters import point_filter as pf
from adapters.base import GetRequest, Hit, Metadata, QueryRequest, Record, Space, StoreRejected
from adapters.chroma_filter import (
    InvalidArgument,
    matches,
    validate_where,
    validate_where_document,
)
from adapters.chroma_order import SEQ_FIELD, seq_of
from adapters.qdrant_client_points import ClientPoints
from adapters.qdrant_filter import plan_where
from adapters.qdrant_layout import ORIGINAL_VECTOR_FIELD, point_id, record_from_point
from adapters.qdrant_points import AllBut, PayloadSelection, Points, Search, StoredPoint

SCAN_PAGE = 1024
MIN_OVERFETCH = 64
TIE_SLACK = 8
TIE_CAP = 4096


class ChromaInternalError(StoreRejected):
    """Chroma answers this request with ``InternalError`` (500); reproduced on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ReadTarget:
    """One Qdrant collection holding a Chroma collection, and how to read it.

    ``client`` is the engine: a ``QdrantClient`` or any :class:`Points`.
    """

    client: QdrantClient | Points
    collection: str
    space: Space
    dimension: int | None = None
    chroma_bugs: bool = True  # reproduce chroma#7491 and the query-by-missing-id error
    ordered_scroll: bool = True  # every point has ``seq``: page limits via order_by

    @cached_property
    def points(self) -> Points:
        """The engine as :class:`Points`."""
        return _points(self.client)


def _points(client: QdrantClient | Points) -> Points:
    return ClientPoints(client) if isinstance(client, QdrantClient) else client


@dataclass(frozen=True)
class _Plan:
    filter: pf.Clause | None
    exact: bool
    where: Metadata | None
    where_document: Metadata | None


def _plan(target: ReadTarget, where: Metadata | None, wd: Metadata | None) -> _Plan:
    if where is not None:
        validate_where(where)
    if wd is not None:
        validate_where_document(wd)
    translation = plan_where(where, target.chroma_bugs)
    exact = translation.exact and wd is None
    return _Plan(translation.filter, exact, where, wd)


def _keep(target: ReadTarget, plan: _Plan, record: Record) -> bool:
    return plan.exact or matches(record, plan.where, plan.where_document, target.chroma_bugs)


def _payload(with_embeddings: bool) -> PayloadSelection:
    # The base64 original is the bulk of a cosine payload: skip it unless asked.
    if with_embeddings:
        return True
    return AllBut((ORIGINAL_VECTOR_FIELD,))


def _record(point: Any, with_embeddings: bool) -> Record:
    record = record_from_point(point.payload or {}, point.vector if with_embeddings else None)
    return record if with_embeddings else _strip(record)


def _strip(record: Record) -> Record:
    return Record(record.id, None, record.metadata, record.document, record.uri)


def _order_key(point: Any) -> tuple[int, str]:
    seq = seq_of(point.payload)
    return (seq if seq is not None else 1 << 62, str(point.id))


def _and(*filters: pf.Clause | None) -> pf.Clause | None:
    return pf.all_of(*filters)


# ---------------------------------------------------------------- get


def get(target: ReadTarget, request: GetRequest) -> list[Record]:
    """Chroma's ``get``: found rows in insertion order, filtered, then offset/limit."""
    plan = _plan(target, request.where, request.where_document)
    if request.limit == 0:
        return []
    if request.ids is not None:
        # Retrieval by id applies no Qdrant filter: the whole filter runs here.
        plan = _Plan(None, False, plan.where, plan.where_document)
        points = _retrieve(target, request.ids, request.with_embeddings)
    elif request.limit is not None and target.ordered_scroll:
        points = _ordered_window(target, plan, request)
    else:
        points = sorted(_scan(target, plan.filter, request.with_embeddings), key=_order_key)
    records = [_record(p, request.with_embeddings) for p in points]
    kept = [r for r in records if _keep(target, plan, r)]
    end = None if request.limit is None else request.offset + request.limit
    return kept[request.offset : end]


def _retrieve(
    target: ReadTarget, ids: Sequence[str], with_embeddings: bool
) -> list[StoredPoint]:
    unique = list(dict.fromkeys(ids))
    if not unique:
        return []
    points = target.points.retrieve(
        target.collection,
        [point_id(i) for i in unique],
        with_payload=_payload(with_embeddings),
        with_vector=with_embeddings,
    )
    return sorted(points, key=_order_key)


def _scan(
    target: ReadTarget, flt: pf.Clause | None, with_embeddings: bool
) -> Iterator[StoredPoint]:
    offset: str | None = None
    while True:
        points, offset = target.points.scroll(
            target.collection,
            SCAN_PAGE,
            offset,
            filter=flt,
            with_payload=_payload(with_embeddings),
            with_vector=with_embeddings,
        )
        yield from points
        if offset is None:
            return


def _ordered_window(target: ReadTarget, plan: _Plan, request: GetRequest) -> list[StoredPoint]:
    """The first offset+limit matching points in seq order (post-filtered when inexact)."""
    assert request.limit is not None
    wanted = request.offset + request.limit
    page = min(max(wanted if plan.exact else 4 * wanted, MIN_OVERFETCH), SCAN_PAGE)
    found: list[StoredPoint] = []
    start: int | None = None
    while len(found) < wanted:
        points = target.points.scroll_ordered(
            target.collection,
            SEQ_FIELD,
            page,
            start,
            filter=plan.filter,
            with_payload=_payload(request.with_embeddings),
            with_vector=request.with_embeddings,
        )
        found += [p for p in points if _keep(target, plan, _record(p, False))]
        if len(points) < page:
            break
        start = (seq_of(points[-1].payload) or 0) + 1
    return found[:wanted]


def all_have_seq(client: QdrantClient | Points, collection: str) -> bool:
    """True when no point of ``collection`` lacks ``seq`` (an ``order_by`` scroll skips
    such points: written by versions that did not set it)."""
    lacking = pf.Clause(must=(pf.IsEmpty(SEQ_FIELD),))
    return _points(client).count(collection, lacking) == 0


# ---------------------------------------------------------------- count


def count(
    target: ReadTarget, where: Metadata | None = None, where_document: Metadata | None = None
) -> int:
    """Number of records passing the filters (Chroma's collection ``count`` has none)."""
    plan = _plan(target, where, where_document)
    if plan.exact:
        return target.points.count(target.collection, plan.filter)
    return sum(
        1 for p in _scan(target, plan.filter, False) if _keep(target, plan, _record(p, False))
    )


# ---------------------------------------------------------------- query


def query(target: ReadTarget, request: QueryRequest) -> list[list[Hit]]:
    """Chroma's ``query``: per query vector, the ``k`` nearest passing rows, closest first."""
    plan = _plan(target, request.where, request.where_document)
    for vector in request.vectors:
        if target.dimension is not None and len(vector) != target.dimension:
            raise InvalidArgument(
                f"Collection expecting embedding with dimension of {target.dimension}, "
                f"got {len(vector)}"
            )
    id_filter = _id_filter(target, request, plan)
    flt = _and(id_filter, plan.filter)
    return [_query_one(target, plan, flt, vector, request) for vector in request.vectors]


def _id_filter(target: ReadTarget, request: QueryRequest, plan: _Plan) -> pf.Clause | None:
    if request.ids is None:
        return None
    wanted = [point_id(i) for i in dict.fromkeys(request.ids)]
    if target.chroma_bugs and plan.where is None and plan.where_document is None and wanted:
        # Chroma 1.5.9 fails a query by ids (without filters) naming a missing id.
        found = target.points.retrieve(target.collection, wanted, with_payload=False)
        if len(found) < len(wanted):
            raise ChromaInternalError("Error executing plan: Internal error: Error finding id")
    return pf.Clause(must=(pf.HasId(tuple(wanted)),))


_Scored = tuple[float, tuple[int, str], float, Hit]  # distance, order key, score, hit


@dataclass(frozen=True)
class _Scoring:
    """A query vector and how Qdrant scores for it become Chroma distances.

    Chroma normalises a cosine query as ``q / (|q|_f32 + 1e-32)``: for ordinary vectors
    that is ``q / |q|``, but a tiny one (|q| below ~1e-19) keeps a norm far from 1, and
    Chroma's distance is ``1 - norm * cos``. Qdrant returns plain ``cos``: ``scale``
    carries the norm over. Distances are float32, as Chroma computes them.
    """

    space: Space
    query: list[float]
    scale: float

    @classmethod
    def of(cls, space: Space, vector: Any) -> _Scoring:
        q = np.asarray(vector, dtype=np.float32)
        scale = 1.0
        if space is Space.COSINE:
            norm32 = np.sqrt(np.sum(q * q, dtype=np.float32)) + np.float32(1e-32)
            scale = float(np.linalg.norm(q.astype(np.float64)) / float(norm32))
        return cls(space, [float(x) for x in q], scale)

    def distance(self, score: float) -> float:
        value = float(score)
        distance = value**2 if self.space is Space.L2 else 1.0 - self.scale * value
        return float(np.float32(distance))

    @property
    def ordinary(self) -> bool:
        return abs(self.scale - 1.0) < 1e-3


def _query_one(
    target: ReadTarget,
    plan: _Plan,
    flt: pf.Clause | None,
    vector: Any,
    request: QueryRequest,
) -> list[Hit]:
    if request.k == 0:
        return []
    scoring = _Scoring.of(target.space, vector)
    # A little more than k so equal distances at the cut can be ordered like Chroma.
    wanted = request.k + TIE_SLACK
    hits = _nearest(target, plan, flt, scoring, request, wanted, None)
    hits.sort(key=lambda h: (h[0], h[1]))
    if len(hits) >= wanted and hits[request.k - 1][0] == hits[-1][0]:
        # The tie at the cut runs past what we fetched (zero or duplicate vectors):
        # fetch the whole tie group, Chroma orders it by insertion.
        cut = hits[request.k - 1][2]
        threshold = _loosened(target.space, cut) if scoring.ordinary else None
        hits = _nearest(target, plan, flt, scoring, request, TIE_CAP, threshold)
        hits.sort(key=lambda h: (h[0], h[1]))
    return [h[3] for h in hits[: request.k]]


def _loosened(space: Space, score: float) -> float:
    """A score threshold just past ``score``: inclusive whether Qdrant's test is > or >=."""
    eps = 1e-6 * max(1.0, abs(score))
    return score + eps if space is Space.L2 else score - eps


def _nearest(
    target: ReadTarget,
    plan: _Plan,
    flt: pf.Clause | None,
    scoring: _Scoring,
    request: QueryRequest,
    wanted: int,
    threshold: float | None,
) -> list[_Scored]:
    page = wanted if plan.exact else max(4 * wanted, MIN_OVERFETCH)
    hits: list[_Scored] = []
    offset = 0
    while len(hits) < wanted:
        search = Search(
            vector=scoring.query,
            limit=page,
            filter=flt,
            offset=offset,
            score_threshold=threshold,
            with_payload=_payload(request.with_embeddings),
            with_vector=request.with_embeddings,
            exact=request.exact,
        )
        (points,) = target.points.search(target.collection, [search])
        for point in points:
            record = _record(point, request.with_embeddings)
            if _keep(target, plan, record):
                distance = scoring.distance(point.score)
                hits.append((distance, _order_key(point), point.score, Hit(record, distance)))
        if len(points) < page:
            break
        offset += page
    return hits


def chroma_distance(space: Space, score: float) -> float:
    """Qdrant score -> Chroma distance for an ordinary query: squared l2, 1 - cos, 1 - dot."""
    return _Scoring(space, [], 1.0).distance(score)
