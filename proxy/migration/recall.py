"""recall@k of test queries: does the target find what the source finds?

Each query vector goes to both stores, the target searching exactly. Two numbers per
query:

* ``overlap``: the share of the source's top-k ids the target also returns (strict).
* ``recall``: the same, except that a source hit the target did not return still
  counts when the target returned k records at least as close as it: the source's
  index is approximate (Chroma's HNSW misses true neighbours, badly on random
  high-dimensional data: 0.58 overlap measured at 53k x 384), and an exact target that
  finds closer records has not lost anything. This is the number the threshold gates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adapters.base import CollectionKey, Hit, QueryRequest, Vector, VectorStore

BATCH = 16
RELATIVE_SLACK = 1e-5  # distances computed by two engines differ in the last float bits


def score_query(expected: Sequence[Hit], found: Sequence[Hit], k: int) -> dict[str, Any]:
    """Overlap and distance-aware recall of one query (see the module notes)."""
    ids = [h.record.id for h in expected]
    if not ids:
        return {"overlap": 1.0, "recall": 1.0, "missing": []}
    found_ids = {h.record.id for h in found}
    missing = [h for h in expected if h.record.id not in found_ids]
    full = len(found) >= min(k, len(ids))
    worst = max((h.distance for h in found), default=float("inf"))
    outranked = [h for h in missing
                 if full and worst <= h.distance + RELATIVE_SLACK * max(1.0, abs(h.distance))]
    overlap = (len(ids) - len(missing)) / len(ids)
    recall = (len(ids) - len(missing) + len(outranked)) / len(ids)
    return {"overlap": round(overlap, 4), "recall": round(recall, 4),
            "missing": [h.record.id for h in missing if h not in outranked]}


async def measure_recall(source: VectorStore, target: VectorStore, key: CollectionKey,
                         vectors: Sequence[Vector], k: int) -> dict[str, Any]:
    """Mean and per-query recall@k (and strict overlap) of ``vectors`` in both stores."""
    per_query: list[dict[str, Any]] = []
    for start in range(0, len(vectors), BATCH):
        chunk = list(vectors[start:start + BATCH])
        want = await source.query(key, QueryRequest(vectors=chunk, k=k))
        got = await target.query(key, QueryRequest(vectors=chunk, k=k, exact=True))
        for offset, (expected, found) in enumerate(zip(want, got, strict=True)):
            per_query.append({"query": start + offset, **score_query(expected, found, k)})
    count = len(per_query)
    mean = sum(q["recall"] for q in per_query) / count if count else 1.0
    overlap = sum(q["overlap"] for q in per_query) / count if count else 1.0
    return {"k": k, "queries": count, "mean": round(mean, 4), "mean_overlap": round(overlap, 4),
            "min": min((q["recall"] for q in per_query), default=1.0), "per_query": per_query}
