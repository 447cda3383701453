"""Differential suite: real Chroma vs the Qdrant read translation, on generated requests.

Three mirrored collections (l2, cosine, ip; metadata of every allowed type including
lists, documents, rows without metadata or document, a history of adds, upserts,
updates, deletes and re-adds) are read with random ``get`` / ``query`` bodies, sent raw
to the Chroma server and through parse -> qdrant_reads -> render. Answers must agree:
same status and error class; same ids in the same order (query: ties aside); distances
within 1e-4; embeddings, documents, uris and metadata (types included) equal.
>= 500 generated cases per run (GET_CASES + QUERY_CASES + COUNT_CASES).
"""

from __future__ import annotations

import os
from typing import Any

from conftest import RawChroma
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reads_diff import assert_same_answer, chroma_distance, proxy_answer
from reads_strategies import get_bodies, query_bodies, where_documents, wheres

from adapters import qdrant_reads
from adapters.base import Space

# READS_DIFF_SCALE=10 for a longer hunt; the default keeps the run under ~30 s.
SCALE = int(os.environ.get("READS_DIFF_SCALE", "1"))
GET_CASES = 500 * SCALE
QUERY_CASES = 400 * SCALE
COUNT_CASES = 100 * SCALE
SETTINGS = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}


def _collection_id(mirror: Any) -> str:
    return str(mirror.collection.id)


@settings(max_examples=GET_CASES, **SETTINGS)
@given(space=st.sampled_from(list(Space)), body=get_bodies())
def test_get_agrees_with_chroma(
    mirrors: dict[Space, Any], raw_chroma: RawChroma, space: Space, body: dict[str, Any]
) -> None:
    mirror = mirrors[space]
    chroma = raw_chroma.post(_collection_id(mirror), "get", body)
    assert_same_answer("get", chroma, proxy_answer(mirror.target(), "get", body))


RECALL_MISSES: list[int] = []


@settings(max_examples=QUERY_CASES, **SETTINGS)
@given(space=st.sampled_from(list(Space)), body=query_bodies())
def test_query_agrees_with_chroma(
    mirrors: dict[Space, Any], raw_chroma: RawChroma, space: Space, body: dict[str, Any]
) -> None:
    mirror = mirrors[space]
    chroma = raw_chroma.post(_collection_id(mirror), "query", body)
    stored = mirror.embeddings()

    def distance_of(row: int, rid: str) -> float:
        return chroma_distance(space.value, body["query_embeddings"][row], stored[rid])

    # The exact oracle: the rows Chroma's get selects with the same filters (no index).
    selection = {k: body[k] for k in ("where", "where_document", "ids") if k in body}
    status, rows = raw_chroma.post(_collection_id(mirror), "get", {**selection, "include": []})
    candidates = rows["ids"] if status == 200 else []
    ours = proxy_answer(mirror.target(), "query", body)
    RECALL_MISSES.append(assert_same_answer("query", chroma, ours, distance_of, candidates))


@settings(max_examples=COUNT_CASES, **SETTINGS)
@given(
    space=st.sampled_from(list(Space)),
    where=st.one_of(st.none(), wheres),
    where_document=st.one_of(st.none(), where_documents),
)
def test_filtered_count_agrees_with_chroma_get(
    mirrors: dict[Space, Any],
    raw_chroma: RawChroma,
    space: Space,
    where: Any,
    where_document: Any,
) -> None:
    # Chroma's count takes no filter; the number of rows its get returns is the oracle.
    mirror = mirrors[space]
    body = {"where": where, "where_document": where_document, "include": []}
    status, answer = raw_chroma.post(_collection_id(mirror), "get", body)
    assert status == 200
    ours = qdrant_reads.count(mirror.target(), where, where_document)
    assert ours == len(answer["ids"])


def test_unfiltered_count_agrees(mirrors: dict[Space, Any], raw_chroma: RawChroma) -> None:
    for mirror in mirrors.values():
        assert qdrant_reads.count(mirror.target()) == raw_chroma.count(_collection_id(mirror))
