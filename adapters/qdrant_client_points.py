""":class:`~adapters.qdrant_points.Points` over qdrant-client (a server, or local mode).

Also the renderer of the neutral filter form (:mod:`adapters.point_filter`) into
qdrant-client models. Local mode ignores payload indexes and search params and warns
about them, so neither is sent to it (it always searches exactly).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from qdrant_client import QdrantClient
from qdrant_client.http import models as qm
from qdrant_client.local.qdrant_local import QdrantLocal

from adapters import point_filter as pf
from adapters.qdrant_points import (
    AllBut,
    Only,
    PayloadSelection,
    PointData,
    ScoredPoint,
    Search,
    StoredPoint,
)

_SCHEMA = {"keyword": qm.PayloadSchemaType.KEYWORD, "integer": qm.PayloadSchemaType.INTEGER}


def is_local(client: QdrantClient) -> bool:
    """True for an embedded (local mode) client."""
    return isinstance(getattr(client, "_client", None), QdrantLocal)


def render_filter(clause: pf.Clause) -> qm.Filter:
    """The qdrant-client ``Filter`` of a neutral clause."""
    parts = {
        name: [render_condition(c) for c in conds]
        for name, conds in (("must", clause.must), ("should", clause.should),
                            ("must_not", clause.must_not))
        if conds
    }
    return qm.Filter(**parts)  # type: ignore[arg-type]


def render_condition(cond: pf.Condition) -> qm.Condition:
    """The qdrant-client condition of one neutral condition."""
    if isinstance(cond, pf.Clause):
        return render_filter(cond)
    if isinstance(cond, pf.Match):
        return qm.FieldCondition(key=cond.path, match=qm.MatchValue(value=cond.value))
    if isinstance(cond, pf.MatchAny):
        return qm.FieldCondition(key=cond.path, match=qm.MatchAny(any=list(cond.values)))
    if isinstance(cond, pf.Range):
        bounds = {"gt": cond.gt, "gte": cond.gte, "lt": cond.lt, "lte": cond.lte}
        given = {k: v for k, v in bounds.items() if v is not None}
        return qm.FieldCondition(key=cond.path, range=qm.Range(**given))
    if isinstance(cond, pf.HasId):
        return qm.HasIdCondition(has_id=list(cond.ids))
    return qm.IsEmptyCondition(is_empty=qm.PayloadField(key=cond.path))


def _optional(clause: pf.Clause | None) -> qm.Filter | None:
    return None if clause is None else render_filter(clause)


def _payload(selection: PayloadSelection) -> bool | list[str] | qm.PayloadSelectorExclude:
    if isinstance(selection, Only):
        return list(selection.keys)
    if isinstance(selection, AllBut):
        return qm.PayloadSelectorExclude(exclude=list(selection.keys))
    return selection


def _offset(cursor: str | None) -> Any:
    return None if cursor is None else (int(cursor) if cursor.isdigit() else cursor)


class ClientPoints:
    """Points through one ``QdrantClient`` (only used on the client's own thread)."""

    def __init__(self, client: QdrantClient) -> None:
        self.client = client
        self.local = is_local(client)

    def collection_exists(self, name: str) -> bool:
        return self.client.collection_exists(name)

    def create_collection(
        self, name: str, size: int, distance: str, indexes: Sequence[tuple[str, str]] = ()
    ) -> None:
        params = qm.VectorParams(size=size, distance=qm.Distance(distance))
        self.client.create_collection(name, vectors_config=params)
        if not self.local:
            for field, schema in indexes:
                self.client.create_payload_index(name, field, _SCHEMA[schema])

    def drop_collection(self, name: str) -> None:
        if self.client.collection_exists(name):
            self.client.delete_collection(name)

    def upsert(self, name: str, points: Sequence[PointData]) -> None:
        structs = [qm.PointStruct(id=p.id, vector=p.vector, payload=p.payload) for p in points]
        self.client.upsert(name, structs, wait=True)

    def delete(self, name: str, ids: Sequence[str]) -> None:
        self.client.delete(name, qm.PointIdsList(points=list(ids)), wait=True)

    def retrieve(
        self, name: str, ids: Sequence[str], with_payload: PayloadSelection = True,
        with_vector: bool = False,
    ) -> list[StoredPoint]:
        return list(self.client.retrieve(
            name, list(ids), with_payload=_payload(with_payload), with_vectors=with_vector
        ))  # fmt: skip

    def scroll(
        self, name: str, limit: int, offset: str | None = None, filter: pf.Clause | None = None,
        with_payload: PayloadSelection = True, with_vector: bool = False,
    ) -> tuple[list[StoredPoint], str | None]:
        points, next_offset = self.client.scroll(
            name, scroll_filter=_optional(filter), limit=limit, offset=_offset(offset),
            with_payload=_payload(with_payload), with_vectors=with_vector,
        )  # fmt: skip
        return list(points), None if next_offset is None else str(next_offset)

    def scroll_ordered(
        self, name: str, key: str, limit: int, start_from: int | None = None,
        filter: pf.Clause | None = None, with_payload: PayloadSelection = True,
        with_vector: bool = False,
    ) -> list[StoredPoint]:
        points, _ = self.client.scroll(
            name, scroll_filter=_optional(filter), limit=limit,
            order_by=qm.OrderBy(key=key, start_from=start_from),
            with_payload=_payload(with_payload), with_vectors=with_vector,
        )  # fmt: skip
        return list(points)

    def count(self, name: str, filter: pf.Clause | None = None) -> int:
        return self.client.count(name, count_filter=_optional(filter), exact=True).count

    def search(self, name: str, searches: Sequence[Search]) -> list[list[ScoredPoint]]:
        if len(searches) == 1:
            one = searches[0]
            answer = self.client.query_points(
                name, query=one.vector, query_filter=_optional(one.filter), limit=one.limit,
                offset=one.offset or None, score_threshold=one.score_threshold,
                with_payload=_payload(one.with_payload), with_vectors=one.with_vector,
                search_params=self._params(one),
            )  # fmt: skip
            return [cast(list[ScoredPoint], answer.points)]
        answers = self.client.query_batch_points(name, [self._request(s) for s in searches])
        return [cast(list[ScoredPoint], a.points) for a in answers]

    def _params(self, search: Search) -> qm.SearchParams | None:
        # local mode is always exact and warns about search params
        return qm.SearchParams(exact=True) if search.exact and not self.local else None

    def _request(self, search: Search) -> qm.QueryRequest:
        return qm.QueryRequest(
            query=search.vector, filter=_optional(search.filter), limit=search.limit,
            offset=search.offset or None, score_threshold=search.score_threshold,
            params=self._params(search), with_payload=_payload(search.with_payload),
            with_vector=search.with_vector,
        )  # fmt: skip
