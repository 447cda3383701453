"""Test support: run one request through the Qdrant translation and compare with Chroma."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import orjson

from adapters import qdrant_reads
from adapters.qdrant_reads import ReadTarget
from proxy.chroma_reads import parse_get, parse_query, render_error, render_get, render_query

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
        return bool(np.array_equal(np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)))
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


def _assert_query_row(
    chroma: dict[str, Any], ours: dict[str, Any], i: int, distance_of: DistanceOf
) -> None:
    cids, oids = chroma["ids"][i], ours["ids"][i]
    assert len(cids) == len(oids), f"row {i}: chroma {cids} ours {oids}"
    cd = chroma["distances"][i] if chroma["distances"] is not None else None
    od = ours["distances"][i] if ours["distances"] is not None else None
    if cd is not None and od is not None:
        for a, b in zip(cd, od, strict=True):
            assert abs(a - b) <= TOLERANCE * max(1.0, abs(a)), f"distances {cd} vs {od}"
    if cids != oids:
        # Only equal distances (ties) may come back in another order or selection:
        # Chroma picks among tied rows arbitrarily (a documented difference).
        for cid, oid in zip(cids, oids, strict=True):
            a, b = distance_of(i, cid), distance_of(i, oid)
            assert abs(a - b) <= TOLERANCE * max(1.0, abs(a)), f"not a tie: {cids} vs {oids}"
    _assert_rows(chroma, ours, i)


def assert_same_answer(
    verb: str,
    chroma: tuple[int, Any],
    ours: tuple[int, Any],
    distance_of: DistanceOf | None = None,
) -> None:
    """The proxy's answer equals Chroma's (see module docs of the differential suite)."""
    (cs, cj), (os_, oj) = chroma, ours
    assert cs == os_, f"status: chroma {cs} {cj} ours {os_} {oj}"
    if cs != 200:
        assert cj["error"] == oj["error"], f"error: chroma {cj} ours {oj}"
        return
    assert set(cj) == set(oj), f"keys: {sorted(cj)} vs {sorted(oj)}"
    assert cj["include"] == oj["include"]
    if verb == "get":
        assert cj["ids"] == oj["ids"], f"ids: chroma {cj['ids']} ours {oj['ids']}"
        _assert_rows(cj, oj, None)
        return
    assert distance_of is not None
    assert len(cj["ids"]) == len(oj["ids"])
    assert (cj["distances"] is None) == (oj["distances"] is None)
    for i in range(len(cj["ids"])):
        _assert_query_row(cj, oj, i, distance_of)


def chroma_distance(space: str, query: Any, vector: Any) -> float:
    """Chroma's distance formulas, in float64 (squared l2, 1 - cos, 1 - dot)."""
    q, v = np.asarray(query, dtype=np.float64), np.asarray(vector, dtype=np.float64)
    if space == "l2":
        return float(((q - v) ** 2).sum())
    if space == "ip":
        return 1.0 - float(q @ v)
    norms = float(np.linalg.norm(q) * np.linalg.norm(v))
    return 1.0 - (float(q @ v) / norms if norms > 0 else 0.0)
