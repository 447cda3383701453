"""Test support: hypothesis strategies for Chroma read requests over reads_mirror data."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from reads_mirror import FLOATS, INTS, KEYS, STRINGS

from proxy.dialects.chroma.reads import INCLUDE_VALUES

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
    "^a",
    "a.c",
    "(?i)beta",
    "[0-9]+%",
    r"\d",
    "a$",
    "^$",
    "x y",
    "\u00e9t",
    r"\bBeta\b",
    "line$",
    "(?m)line$",
    "a|B",
    "^[a-z]+ ",
    r"\w+\s\w+",
    "(?<w>al)pha",
    "[^a-z ]",
    "a_c",
]
document_leaves = st.one_of(
    st.builds(
        lambda op, s: {op: s},
        st.sampled_from(["$contains", "$not_contains"]),
        st.sampled_from(SUBSTRINGS),
    ),
    st.builds(
        lambda op, s: {op: s}, st.sampled_from(["$regex", "$not_regex"]), st.sampled_from(REGEXES)
    ),
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
    return _body(
        draw,
        {
            "where": wheres,
            "where_document": where_documents,
            "include": includes,
            "ids": id_lists,
            "limit": st.integers(0, 12),
            "offset": st.integers(0, 15),
        },
    )


@st.composite
def query_bodies(draw: Any) -> dict[str, Any]:
    body = _body(
        draw,
        {
            "where": wheres,
            "where_document": where_documents,
            "include": includes,
            "ids": id_lists,
            "n_results": st.integers(0, 12),
        },
    )
    body["query_embeddings"] = draw(st.lists(vectors, min_size=1, max_size=2))
    return body
