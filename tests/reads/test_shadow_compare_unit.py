"""proxy/reads/compare.py: categories, recall@k, rank agreement, distance deltas."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from proxy.reads.compare import compare, severity


def _q(ids: list[str], distances: list[float], metas: list[Any] | None = None) -> bytes:
    return orjson.dumps({
        "ids": [ids], "distances": [distances], "embeddings": None, "documents": None,
        "uris": None, "metadatas": [metas or [{"m": i} for i in ids]],
        "include": ["metadatas", "distances"],
    })  # fmt: skip


def _g(ids: list[str], metas: list[Any] | None = None) -> bytes:
    return orjson.dumps({
        "ids": ids, "embeddings": None, "documents": None, "uris": None,
        "metadatas": metas or [{"m": i} for i in ids], "include": ["metadatas"],
    })  # fmt: skip


REF = _q(["a", "b", "c", "d"], [0.1, 0.2, 0.3, 0.4])


def test_identical_query_is_a_match_with_full_recall() -> None:
    result = compare("query", 4, (200, REF), (200, REF))
    assert (result.category, result.recall, result.rank_agreement) == ("match", 1.0, 1.0)
    assert result.max_distance_delta == 0.0


def test_missing_ids_lower_recall() -> None:
    got = _q(["a", "b", "x", "d"], [0.1, 0.2, 0.35, 0.4])
    result = compare("query", 4, (200, REF), (200, got))
    assert result.category == "missing_ids"
    assert result.recall == 0.75 and result.missing == ["c"] and result.extra == ["x"]


def test_extra_ids_when_new_store_returns_more() -> None:
    short = _q(["a", "b"], [0.1, 0.2])
    result = compare("query", 4, (200, short), (200, _q(["a", "b", "c"], [0.1, 0.2, 0.3])))
    assert result.category == "extra_ids" and result.recall == 1.0


def test_order_differs_beyond_ties() -> None:
    got = _q(["b", "a", "c", "d"], [0.2, 0.1, 0.3, 0.4])
    result = compare("query", 4, (200, REF), (200, got))
    assert result.category == "order" and result.recall == 1.0 and result.rank_agreement == 0.5


def test_order_among_equal_distances_is_not_a_mismatch() -> None:
    ref = _q(["a", "b", "c"], [0.1, 0.2, 0.2])
    got = _q(["a", "c", "b"], [0.1, 0.2, 0.2])
    assert compare("query", 3, (200, ref), (200, got)).category == "match"


def test_distance_delta() -> None:
    got = _q(["a", "b", "c", "d"], [0.1, 0.2, 0.31, 0.4])
    result = compare("query", 4, (200, REF), (200, got))
    assert result.category == "distance"
    assert result.max_distance_delta == pytest.approx(0.01)


def test_metadata_difference_keeps_int_float_bool_apart() -> None:
    ref = _q(["a"], [0.1], [{"v": 1}])
    assert compare("query", 1, (200, ref), (200, _q(["a"], [0.1], [{"v": 1.0}]))).category == (
        "metadata"
    )
    assert compare("query", 1, (200, ref), (200, _q(["a"], [0.1], [{"v": True}]))).category == (
        "metadata"
    )


def test_status_mismatch_is_error_and_same_error_is_match() -> None:
    err = orjson.dumps({"error": "NotFoundError", "message": "x"})
    assert compare("query", 4, (200, REF), (404, err)).category == "error"
    assert compare("get", 0, (404, err), (404, err)).category == "match"
    other = orjson.dumps({"error": "InternalError", "message": "x"})
    assert compare("get", 0, (404, err), (404, other)).category == "error"
    assert compare("get", 0, (200, _g(["a"])), (200, b"not json")).category == "error"


def test_get_and_count() -> None:
    assert compare("get", 0, (200, _g(["a", "b"])), (200, _g(["a", "b"]))).category == "match"
    assert compare("get", 0, (200, _g(["a", "b"])), (200, _g(["b", "a"]))).category == "order"
    assert compare("get", 0, (200, _g(["a", "b"])), (200, _g(["a"]))).category == "missing_ids"
    assert compare("get", 0, (200, _g(["a"])), (200, _g(["a"], [{"m": 2}]))).category == (
        "metadata"
    )
    assert compare("count", 0, (200, b"5"), (200, b"5")).category == "match"
    assert compare("count", 0, (200, b"5"), (200, b"4")).category == "missing_ids"
    assert compare("count", 0, (200, b"5"), (200, b"6")).category == "extra_ids"


def test_severity_orders_worst_first() -> None:
    bad = compare("query", 4, (200, REF), (200, _q(["x", "y", "c", "d"], [0.1, 0.2, 0.3, 0.4])))
    worse_recall = compare(
        "query", 4, (200, REF), (200, _q(["x", "y", "z", "d"], [0.1, 0.2, 0.3, 0.4]))
    )
    order = compare("query", 4, (200, REF), (200, _q(["b", "a", "c", "d"], [0.2, 0.1, 0.3, 0.4])))
    assert severity(worse_recall) > severity(bad) > severity(order)
