"""Shadow comparison of collection-level reads (proxy/reads/compare.py)."""

from __future__ import annotations

from typing import Any

import orjson

from proxy.reads.compare import compare


def _obj(cid: str, name: str, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": cid, "name": name, "configuration_json": {"hnsw": {"space": "l2"}},
        "schema": {"defaults": {}}, "metadata": {"n": 1}, "dimension": 3,
        "tenant": "t", "database": "d", "log_position": 0, "version": 0,
    }  # fmt: skip
    return {**base, **changes}


def _cmp(route: str, old: Any, new: Any, old_status: int = 200, new_status: int = 200) -> str:
    return compare(
        route, 0, (old_status, orjson.dumps(old)), (new_status, orjson.dumps(new))
    ).category


def test_get_collection_categories() -> None:
    a = _obj("1", "a")
    assert _cmp("get_collection", a, dict(reversed(list(a.items())))) == "match"
    assert _cmp("get_collection", a, _obj("1", "a", version=7, log_position=3)) == "match"
    assert _cmp("get_collection", a, _obj("1", "a", metadata={"n": 1.0})) == "metadata"
    assert _cmp("get_collection", a, _obj("1", "b")) == "metadata"
    assert _cmp("get_collection", a, _obj("1", "a", dimension=None)) == "metadata"
    assert _cmp("get_collection", a, _obj("2", "a")) == "missing_ids"
    missing = {"error": "NotFoundError", "message": "Collection [a] does not exist"}
    assert _cmp("get_collection", missing, missing, 404, 404) == "match"
    assert _cmp("get_collection", missing, a, 404, 200) == "error"


def test_list_and_count_categories() -> None:
    a, b, c = _obj("1", "a"), _obj("2", "b"), _obj("3", "c")
    assert _cmp("list_collections", [a, b], [a, b]) == "match"
    assert _cmp("list_collections", [a, b], [b, a]) == "order"
    assert _cmp("list_collections", [a, b], [a]) == "missing_ids"
    assert _cmp("list_collections", [a], [a, c]) == "extra_ids"
    assert _cmp("list_collections", [a, b], [a, _obj("2", "b", metadata=None)]) == "metadata"
    assert _cmp("count_collections", 3, 3) == "match"
    assert _cmp("count_collections", 3, 2) == "missing_ids"
    assert _cmp("count_collections", 3, 4) == "extra_ids"
