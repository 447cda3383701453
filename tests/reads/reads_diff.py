"""Test support: run one request through the Qdrant translation and compare with Chroma."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Any

import numpy as np
import orjson

from adapters import qdrant_reads
from adapters.qdrant_reads import ReadTarget
from proxy.dialects.chroma.reads import (
    parse_get,
    parse_query,
    render_error,
    render_get,
    render_query,
)

TOLERANCE = 1e-4
COLUMNS = ("embeddings", "documents", "uris", "metadatas")


def proxy_answer(target: ReadTarget, verb: str, body: Any) -> tuple[int, Any]:
    """What the proxy would answer for ``body`` from Qdrant: (status, parsed JSON)."""
    raw = orjson.dumps(body)
    try:
        if verb == "get":
            get = parse_get(raw)
            out = render_get(qdrant_reads.get(target, get.request), get.include)
        else:
            q = parse_query(raw, exact=True)
            out = render_query(qdrant_reads.query(target, q.request), q.include)
    except Exception as exc:
        status, err = render_error(exc)
        return status, orjson.loads(err)
    return 200, orjson.loads(out)


def typed(value: Any) -> Any:
    """JSON value with int/float/bool kept apart (1 == 1.0 == True in plain Python)."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return (type(value).__name__, value)


def _same_cell(column: str, a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if column == "embeddings":
        return bool(
            np.array_equal(np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32))
        )
    return bool(typed(a) == typed(b))


def _rows(answer: dict[str, Any], i: int | None) -> dict[str, dict[str, Any]]:
    def col(name: str) -> Any:
        value = answer[name]
        return value if value is None or i is None else value[i]

    ids = col("ids")
    return {
        rid: {c: (None if col(c) is None else col(c)[n]) for c in COLUMNS}
        for n, rid in enumerate(ids)
    }


def _assert_rows(chroma: dict[str, Any], ours: dict[str, Any], i: int | None) -> None:
    for c in COLUMNS:
        assert (chroma[c] is None) == (ours[c] is None), f"column {c} presence"
    theirs_rows, our_rows = _rows(chroma, i), _rows(ours, i)
    for rid in set(theirs_rows) & set(our_rows):
        for c in COLUMNS:
            a, b = theirs_rows[rid][c], our_rows[rid][c]
            assert _same_cell(c, a, b), f"{c} of {rid}: chroma {a!r} ours {b!r}"


DistanceOf = Callable[[int, str], float]


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= TOLERANCE * max(1.0, abs(a))


def _same_ranking(xs: list[str], ys: list[str], dist: Callable[[str], float]) -> bool:
    """Equal lists, or different only among rows at equal distance (ties)."""
    return len(xs) == len(ys) and all(
        _close(dist(x), dist(y)) for x, y in zip(xs, ys, strict=True)
    )


def _assert_query_row(
    chroma: dict[str, Any],
    ours: dict[str, Any],
    i: int,
    distance_of: DistanceOf,
    candidates: list[str],
) -> int:
    """Compare one query row; returns 1 when Chroma's index missed a matching row (chroma#7758)."""
    cids, oids = chroma["ids"][i], ours["ids"][i]

    def dist(rid: str) -> float:
        return distance_of(i, rid)

    # Ours must be the exact top-k of the rows Chroma's own (exact) get selects.
    exact = sorted(candidates, key=dist)[: len(oids)]
    assert _same_ranking(exact, oids, dist), f"not the exact top-k: {oids} vs {exact}"
    if chroma["distances"] is not None:
        pairs = zip(oids, ours["distances"][i], strict=True)
        assert all(_close(dist(r), d) for r, d in pairs), "distances"
    _assert_rows(chroma, ours, i)
    if _same_ranking(cids, oids, dist):
        if chroma["distances"] is not None:
            for a, b in zip(chroma["distances"][i], ours["distances"][i], strict=True):
                assert _close(a, b), f"distances {chroma['distances'][i]} vs {ours['distances'][i]}"
        return 0
    # Documented difference (chroma#7758): Chroma's filtered HNSW search skipped live rows,
    # closer than its last hit or simply left out (fewer hits than rows that match).
    # What it did return must still be matching rows, in distance order.
    assert len(cids) <= len(oids), f"chroma returned more: {cids} vs {oids}"
    assert set(cids) <= set(candidates), f"chroma returned rows outside the filter: {cids}"
    assert all(dist(a) <= dist(b) + TOLERANCE for a, b in pairwise(cids)), "chroma order"
    assert [r for r in oids if r not in cids], f"same rows, different order: {cids} vs {oids}"
    return 1


def assert_same_answer(
    verb: str,
    chroma: tuple[int, Any],
    ours: tuple[int, Any],
    distance_of: DistanceOf | None = None,
    candidates: list[str] | None = None,
) -> int:
    """The proxy's answer equals Chroma's, up to documented differences (returned count)."""
    (cs, cj), (os_, oj) = chroma, ours
    assert cs == os_, f"status: chroma {cs} {cj} ours {os_} {oj}"
    if cs != 200:
        assert cj["error"] == oj["error"], f"error: chroma {cj} ours {oj}"
        return 0
    assert set(cj) == set(oj), f"keys: {sorted(cj)} vs {sorted(oj)}"
    assert cj["include"] == oj["include"]
    if verb == "get":
        assert cj["ids"] == oj["ids"], f"ids: chroma {cj['ids']} ours {oj['ids']}"
        _assert_rows(cj, oj, None)
        return 0
    assert distance_of is not None and candidates is not None
    assert len(cj["ids"]) == len(oj["ids"])
    assert (cj["distances"] is None) == (oj["distances"] is None)
    return sum(_assert_query_row(cj, oj, i, distance_of, candidates) for i in range(len(cj["ids"])))


def chroma_distance(space: str, query: Any, vector: Any) -> float:
    """Chroma's distance formulas, in float64 (squared l2, 1 - cos, 1 - dot)."""
    q, v = np.asarray(query, dtype=np.float64), np.asarray(vector, dtype=np.float64)
    if space == "l2":
        return float(((q - v) ** 2).sum())
    if space == "ip":
        return 1.0 - float(q @ v)

    # Chroma normalises x / (|x|_f32 + 1e-32): tiny vectors keep a norm far from 1.
    def normalised(x: Any) -> Any:
        x32 = np.asarray(x, dtype=np.float32)
        norm32 = float(np.sqrt(np.sum(x32 * x32, dtype=np.float32)) + np.float32(1e-32))
        return x32.astype(np.float64) / norm32

    return 1.0 - float(normalised(query) @ normalised(vector))
