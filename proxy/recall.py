"""recall@k of test queries: does the target find what the source finds?

Each query vector is sent to both stores (the target searching exactly, so its
answer is the true neighbour set); recall is the share of the source's top-k ids the
target also returns. Reported per query and as a mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adapters.base import CollectionKey, QueryRequest, Vector, VectorStore

BATCH = 16


async def measure_recall(source: VectorStore, target: VectorStore, key: CollectionKey,
                         vectors: Sequence[Vector], k: int) -> dict[str, Any]:
    """Mean and per-query recall@k of ``vectors`` against both stores."""
    per_query: list[dict[str, Any]] = []
    for start in range(0, len(vectors), BATCH):
        chunk = list(vectors[start:start + BATCH])
        want = await source.query(key, QueryRequest(vectors=chunk, k=k))
        got = await target.query(key, QueryRequest(vectors=chunk, k=k, exact=True))
        for offset, (expected, found) in enumerate(zip(want, got, strict=True)):
            ids = [h.record.id for h in expected]
            found_ids = {h.record.id for h in found}
            recall = sum(1 for i in ids if i in found_ids) / len(ids) if ids else 1.0
            per_query.append({"query": start + offset, "recall": round(recall, 4),
                              "missing": [i for i in ids if i not in found_ids]})
    mean = sum(q["recall"] for q in per_query) / len(per_query) if per_query else 1.0
    return {"k": k, "queries": len(per_query), "mean": round(mean, 4),
            "min": min((q["recall"] for q in per_query), default=1.0), "per_query": per_query}
