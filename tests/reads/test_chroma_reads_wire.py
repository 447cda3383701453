"""The Chroma v2 wire side: bodies Chroma refuses, and the exact JSON shapes it answers."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from conftest import RawChroma
from reads_diff import proxy_answer
from reads_mirror import Mirror

from adapters.base import Space
from proxy.dialects.chroma.reads import render_count, render_error

BAD_GET_BODIES: list[dict[str, Any]] = [
    {"where": {}},
    {"where": {"n": 1, "m": 2}},
    {"where": {"n": None}},
    {"where": {"n": [1, 2]}},
    {"where": {"n": {"$gt": "1"}}},
    {"where": {"n": {"$gt": True}}},
    {"where": {"n": {"$in": []}}},
    {"where": {"n": {"$in": [1, 2.5]}}},
    {"where": {"n": {"$in": [1, "a"]}}},
    {"where": {"n": {"$foo": 1}}},
    {"where": {"n": {"$eq": 1, "$ne": 2}}},
    {"where": {"n": {"$contains": [1]}}},
    {"where": {"$and": {"n": 1}}},
    {"where": {"$nor": [{"n": 1}]}},
    {"where_document": {}},
    {"where_document": {"$foo": "x"}},
    {"where_document": {"$contains": 1}},
    {"where_document": {"$contains": "l", "$not_contains": "W"}},
    {"where_document": {"$regex": "["}},
    {"where_document": {"$regex": "(?=a)"}},
    {"limit": -1},
    {"offset": -1},
    {"include": ["foo"]},
    {"include": None},
]
BAD_QUERY_BODIES: list[dict[str, Any]] = [
    {"n_results": 2},
    {"query_embeddings": [[1.0, 0.0, 0.0, 0.0]], "n_results": -1},
    {"query_embeddings": [[1.0, 0.0, 0.0]]},
    {"query_embeddings": [[1.0, 0.0, 0.0, 0.0]], "where": {"n": {"$lt": "x"}}},
    {"query_embeddings": [[1.0, 0.0, 0.0, 0.0]], "ids": ["nope"]},  # Chroma: InternalError
]


@pytest.mark.parametrize("body", BAD_GET_BODIES, ids=[str(b) for b in BAD_GET_BODIES])
def test_refused_get_bodies_match_chroma(
    mirrors: dict[Space, Mirror], raw_chroma: RawChroma, body: dict[str, Any]
) -> None:
    mirror = mirrors[Space.L2]
    chroma_status, chroma = raw_chroma.post(str(mirror.collection.id), "get", body)
    status, ours = proxy_answer(mirror.target(), "get", body)
    assert chroma_status >= 400
    assert (status, ours["error"]) == (chroma_status, chroma["error"])


@pytest.mark.parametrize("body", BAD_QUERY_BODIES, ids=[str(b) for b in BAD_QUERY_BODIES])
def test_refused_query_bodies_match_chroma(
    mirrors: dict[Space, Mirror], raw_chroma: RawChroma, body: dict[str, Any]
) -> None:
    mirror = mirrors[Space.L2]
    chroma_status, chroma = raw_chroma.post(str(mirror.collection.id), "query", body)
    status, ours = proxy_answer(mirror.target(), "query", body)
    assert chroma_status >= 400
    assert (status, ours["error"]) == (chroma_status, chroma["error"])
    if chroma["error"] == "InvalidArgumentError":
        assert ours["message"] == chroma["message"] or "where" in chroma["message"]


@pytest.mark.parametrize(
    ("verb", "body"),
    [
        ("get", {}),
        ("get", {"include": []}),
        ("get", {"ids": [], "include": ["uris", "embeddings"]}),
        ("get", {"limit": 0}),
        ("query", {"query_embeddings": []}),
        ("query", {"query_embeddings": [[0.1, 0.2, 0.3, 0.4]], "n_results": 0}),
        ("query", {"query_embeddings": [[0.1, 0.2, 0.3, 0.4]], "ids": []}),
        (
            "query",
            {"query_embeddings": [[0.1, 0.2, 0.3, 0.4]], "include": ["distances", "distances"]},
        ),
    ],
)
def test_answer_json_is_chromas(
    mirrors: dict[Space, Mirror], raw_chroma: RawChroma, verb: str, body: dict[str, Any]
) -> None:
    """Same keys, nulls, nesting and include echo as the real server (values aside)."""
    mirror = mirrors[Space.COSINE]
    status, chroma = raw_chroma.post(str(mirror.collection.id), verb, body)
    ours_status, ours = proxy_answer(mirror.target(), verb, body)
    assert (ours_status, status) == (200, 200)

    def shape(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items()}
        if isinstance(value, list):
            return ["list", len(value)]
        return type(value).__name__

    assert shape(ours) == shape(chroma)
    assert ours["include"] == chroma["include"]


def test_count_and_error_renderings() -> None:
    assert render_count(37) == b"37"
    status, body = render_error(RuntimeError("boom"))
    assert status == 500 and orjson.loads(body) == {"error": "InternalError", "message": "boom"}
