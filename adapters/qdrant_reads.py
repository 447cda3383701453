"""Chroma-semantics ``get`` / ``query`` / ``count`` answered from Qdrant.

Pure and synchronous over a plain ``QdrantClient`` (run it on the store's executor).
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
from typing import Any

import numpy as np
from qdrant_client import QdrantClient, models

from adapters.base import GetRequest, Hit, Metadata, QueryRequest, Record, Space, StoreRejected
from adapters.chroma_filter import (
    InvalidArgument,
    matches,
    validate_where,
    validate_where_document,
)
from adapters.chroma_order import SEQ_FIELD, seq_of
from adapters.qdrant_filter import translate_where
from adapters.qdrant_layout import ORIGINAL_VECTOR_FIELD, point_id, record_from_point

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
    """One Qdrant collection holding a Chroma collection, and how to read it."""

    client: QdrantClient
    collection: str
    space: Space
    dimension: int | None = None
    chroma_bugs: bool = True  # reproduce chroma#7491 and the query-by-missing-id error
    ordered_scroll: bool = True  # every point has ``seq``: page limits via order_by


@dataclass(frozen=True)
class _Plan:
    filter: models.Filter | None
    exact: bool
    where: Metadata | None
    where_document: Metadata | None


def _plan(target: ReadTarget, where: Metadata | None, wd: Metadata | None) -> _Plan:
    if where is not None:
        validate_where(where)
    if wd is not None:
        validate_where_document(wd)
    translation = translate_where(where, target.chroma_bugs)
    exact = translation.exact and wd is None
    return _Plan(translation.filter, exact, where, wd)


def _keep(target: ReadTarget, plan: _Plan, record: Record) -> bool:
    return plan.exact or matches(record, plan.where, plan.where_document, target.chroma_bugs)


def _payload(with_embeddings: bool) -> bool | models.PayloadSelectorExclude:
    # The base64 original is the bulk of a cosine payload: skip it unless asked.
    if with_embeddings:
        return True
    return models.PayloadSelectorExclude(exclude=[ORIGINAL_VECTOR_FIELD])


def _record(point: Any, with_embeddings: bool) -> Record:
    record = record_from_point(point.payload or {}, point.vector if with_embeddings else None)
    return record if with_embeddings else _strip(record)


def _strip(record: Record) -> Record:
    return Record(record.id, None, record.metadata, record.document, record.uri)


def _order_key(point: Any) -> tuple[int, str]:
    seq = seq_of(point.payload)
    return (seq if seq is not None else 1 << 62, str(point.id))


def _and(*filters: models.Filter | None) -> models.Filter | None:
    kept: list[models.Condition] = [f for f in filters if f is not None]
    return models.Filter(must=kept) if kept else None


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


def _retrieve(target: ReadTarget, ids: Sequence[str], with_embeddings: bool) -> list[Any]:
    unique = list(dict.fromkeys(ids))
    if not unique:
        return []
    points = target.client.retrieve(
        target.collection,
        ids=[point_id(i) for i in unique],
        with_payload=_payload(with_embeddings),
        with_vectors=with_embeddings,
    )
    return sorted(points, key=_order_key)


def _scan(target: ReadTarget, flt: models.Filter | None, with_embeddings: bool) -> Iterator[Any]:
    offset: Any = None
    while True:
        points, offset = target.client.scroll(
            target.collection,
            scroll_filter=flt,
            limit=SCAN_PAGE,
            offset=offset,
            with_payload=_payload(with_embeddings),
            with_vectors=with_embeddings,
        )
        yield from points
        if offset is None:
            return


def _ordered_window(target: ReadTarget, plan: _Plan, request: GetRequest) -> list[Any]:
    """The first offset+limit matching points in seq order (post-filtered when inexact)."""
    assert request.limit is not None
    wanted = request.offset + request.limit
    page = min(max(wanted if plan.exact else 4 * wanted, MIN_OVERFETCH), SCAN_PAGE)
    found: list[Any] = []
    start: int | None = None
    while len(found) < wanted:
        points, _ = target.client.scroll(
            target.collection,
            scroll_filter=plan.filter,
            limit=page,
            order_by=models.OrderBy(key=SEQ_FIELD, start_from=start),
            with_payload=_payload(request.with_embeddings),
            with_vectors=request.with_embeddings,
        )
        found += [p for p in points if _keep(target, plan, _record(p, False))]
        if len(points) < page:
            break
        start = (seq_of(points[-1].payload) or 0) + 1
    return found[:wanted]


def all_have_seq(client: QdrantClient, collection: str) -> bool:
    """True when no point of ``collection`` lacks ``seq`` (an ``order_by`` scroll skips
    such points: written by versions that did not set it)."""
    empty = models.IsEmptyCondition(is_empty=models.PayloadField(key=SEQ_FIELD))
    lacking = models.Filter(must=[empty])
    return client.count(collection, count_filter=lacking, exact=True).count == 0


# ---------------------------------------------------------------- count


def count(
    target: ReadTarget, where: Metadata | None = None, where_document: Metadata | None = None
) -> int:
    """Number of records passing the filters (Chroma's collection ``count`` has none)."""
    plan = _plan(target, where, where_document)
    if plan.exact:
        return target.client.count(target.collection, count_filter=plan.filter, exact=True).count
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


def _id_filter(target: ReadTarget, request: QueryRequest, plan: _Plan) -> models.Filter | None:
    if request.ids is None:
        return None
    wanted = [point_id(i) for i in dict.fromkeys(request.ids)]
    if target.chroma_bugs and plan.where is None and plan.where_document is None and wanted:
        # Chroma 1.5.9 fails a query by ids (without filters) naming a missing id.
        found = target.client.retrieve(target.collection, ids=wanted, with_payload=False)
        if len(found) < len(wanted):
            raise ChromaInternalError("Error executing plan: Internal error: Error finding id")
    return models.Filter(must=[models.HasIdCondition(has_id=list(wanted))])


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
    flt: models.Filter | None,
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
    flt: models.Filter | None,
    scoring: _Scoring,
    request: QueryRequest,
    wanted: int,
    threshold: float | None,
) -> list[_Scored]:
    page = wanted if plan.exact else max(4 * wanted, MIN_OVERFETCH)
    hits: list[_Scored] = []
    offset = 0
    while len(hits) < wanted:
        points = target.client.query_points(
            target.collection,
            query=scoring.query,
            query_filter=flt,
            limit=page,
            offset=offset,
            score_threshold=threshold,
            with_payload=_payload(request.with_embeddings),
            with_vectors=request.with_embeddings,
            search_params=_search_params(target.client, request.exact),
        ).points
        for point in points:
            record = _record(point, request.with_embeddings)
            if _keep(target, plan, record):
                distance = scoring.distance(point.score)
                hits.append((distance, _order_key(point), point.score, Hit(record, distance)))
        if len(points) < page:
            break
        offset += page
    return hits


def _search_params(client: QdrantClient, exact: bool) -> models.SearchParams | None:
    # Local mode is always exact and warns about search params.
    if not exact or _is_local(client):
        return None
    return models.SearchParams(exact=True)


def _is_local(client: QdrantClient) -> bool:
    from qdrant_client.local.qdrant_local import QdrantLocal

    return isinstance(getattr(client, "_client", None), QdrantLocal)


def chroma_distance(space: Space, score: float) -> float:
    """Qdrant score -> Chroma distance for an ordinary query: squared l2, 1 - cos, 1 - dot."""
    return _Scoring(space, [], 1.0).distance(score)
