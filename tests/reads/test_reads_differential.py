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

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reads_diff import assert_same_answer, chroma_distance, proxy_answer
from reads_mirror import FLOATS, INTS, KEYS, STRINGS
from conftest import RawChroma

from adapters import qdrant_reads
from adapters.base import Space
from proxy.chroma_reads import INCLUDE_VALUES

GET_CASES = 320
QUERY_CASES = 260
COUNT_CASES = 60
SETTINGS = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}

keys = st.sampled_from([*KEYS, "missing"])
scalars = st.sampled_from([*STRINGS, *INTS, *FLOATS, True, False, "zzz", 7, 0.25, -0.5])
numbers = st.sampled_from([*INTS, *FLOATS, 0.25, -0.5, 7, 1.5])
same_type_lists = st.one_of(
    st.lists(st.sampled_from([*STRINGS, "zzz"]), min_size=1, max_size=3),
    st.lists(st.sampled_from(INTS), min_size=1, max_size=3),
    st.lists(st.sampled_from([*FLOATS, 1.5, -0.5]), min_size=1, max_size=3),
    st.lists(st.booleans(), min_size=1, max_size=2),
)


def _op(key: str, op: str, operand: Any) -> dict[str, Any]:
    return {key: {op: operand}}


leaves = st.one_of(
    st.builds(lambda k, v: {k: v}, keys, scalars),
    st.builds(_op, keys, st.sampled_from(["$eq", "$ne", "$contains", "$not_contains"]), scalars),
    st.builds(_op, keys, st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), numbers),
    st.builds(_op, keys, st.sampled_from(["$in", "$nin"]), same_type_lists),
)
wheres = st.recursive(
    leaves,
    lambda children: st.builds(
        lambda op, xs: {op: xs}, st.sampled_from(["$and", "$or"]), st.lists(children, max_size=3)
    ),
    max_leaves=5,
)
SUBSTRINGS = ["a", "alpha", "Beta", "beta", "_", "%", "", "a_c", "50%", "x y", "\u00e9", "\n", "bc"]
REGEXES = [
    "^a", "a.c", "(?i)beta", "[0-9]+%", r"\d", "a$", "^$", "x y", "\u00e9t", r"\bBeta\b",
    "line$", "(?m)line$", "a|B", "^[a-z]+ ", r"\w+\s\w+", "(?<w>al)pha", "[^a-z ]", "a_c",
]
document_leaves = st.one_of(
    st.builds(lambda op, s: {op: s}, st.sampled_from(["$contains", "$not_contains"]),
              st.sampled_from(SUBSTRINGS)),
    st.builds(lambda op, s: {op: s}, st.sampled_from(["$regex", "$not_regex"]),
              st.sampled_from(REGEXES)),
)
where_documents = st.recursive(
    document_leaves,
    lambda children: st.builds(
        lambda op, xs: {op: xs}, st.sampled_from(["$and", "$or"]), st.lists(children, max_size=3)
    ),
    max_leaves=4,
)
includes = st.lists(st.sampled_from(INCLUDE_VALUES), unique=True, max_size=5)
ALL_IDS = [f"r{n:02d}" for n in range(36)] + ["bare1", "bare2", "bare3", "nope1", "nope2"]
id_lists = st.lists(st.sampled_from(ALL_IDS), max_size=6)
vectors = st.lists(st.floats(-2.0, 2.0, width=32), min_size=4, max_size=4)


def _body(draw: Any, fields: dict[str, st.SearchStrategy[Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name, strategy in fields.items():
        if draw(st.booleans()):
            body[name] = draw(strategy)
    return body


@st.composite
def get_bodies(draw: Any) -> dict[str, Any]:
    return _body(draw, {
        "where": wheres, "where_document": where_documents, "include": includes,
        "ids": id_lists, "limit": st.integers(0, 12), "offset": st.integers(0, 15),
    })


@st.composite
def query_bodies(draw: Any) -> dict[str, Any]:
    body = _body(draw, {
        "where": wheres, "where_document": where_documents, "include": includes,
        "ids": id_lists, "n_results": st.integers(0, 12),
    })
    body["query_embeddings"] = draw(st.lists(vectors, min_size=1, max_size=2))
    return body


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
@given(space=st.sampled_from(list(Space)), where=st.one_of(st.none(), wheres),
       where_document=st.one_of(st.none(), where_documents))
def test_filtered_count_agrees_with_chroma_get(
    mirrors: dict[Space, Any], raw_chroma: RawChroma, space: Space,
    where: Any, where_document: Any,
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
