"""Must-show 2: the seed exercise through a real proxy with canary at 100%.

10,000 records and 10 query vectors, loaded and queried with the real chromadb client.
Canary 100% means every query is answered by the new store (exact search), translated
back to Chroma's format; shadow at 100% compares each answer with Chroma's own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from shadow_support import client_of, load, metric, start, wait_compared

from proxy.upstream.embedded_chroma import EmbeddedChroma

N, DIM, QUERIES, K = 10_000, 32, 10, 10


def test_canary_100_gives_chroma_top10_and_shadow_reports_same_recall(
    tmp_path: Path, chroma_server: EmbeddedChroma, unique_name: str
) -> None:
    rng = np.random.default_rng(11)
    vectors = rng.normal(size=(N, DIM)).astype(np.float32)
    queries = rng.normal(size=(QUERIES, DIM)).astype(np.float32)
    proxy = start(
        tmp_path, chroma_server.url, "canary", canary={"percent": 100},
        shadow={"sample_rate": 1.0}, target={"exact_search": True, "path": ":memory:"},
    )  # fmt: skip
    try:
        via_proxy = load(proxy, unique_name, vectors, space="cosine")
        direct = client_of(chroma_server.url).get_collection(unique_name)
        recalls, exact_recalls = [], []
        for q in queries:
            ours = via_proxy.query(query_embeddings=[q.tolist()], n_results=K)
            theirs = direct.query(query_embeddings=[q.tolist()], n_results=K)
            got, want = ours["ids"][0], theirs["ids"][0]
            assert len(got) == K
            recalls.append(len(set(got) & set(want)) / K)
            exact_recalls.append(len(set(got) & set(_exact_top(vectors, q))) / K)
            first = int(got[0][2:])
            assert ours["metadatas"][0][0] == {"i": first, "even": first % 2 == 0}
        assert np.mean(recalls) >= 0.95, recalls
        assert np.mean(exact_recalls) == 1.0, exact_recalls

        snapshot = wait_compared(proxy, QUERIES)
        assert snapshot["compared"] == QUERIES
        assert abs(snapshot["mean_recall"] - np.mean(recalls)) < 1e-9
        text = proxy.get_text("/metrics")
        total = metric(text, "vecbridge_shadow_recall_sum", collection=unique_name)
        count = metric(text, "vecbridge_shadow_recall_count", collection=unique_name)
        assert count == QUERIES
        assert abs(total / count - np.mean(recalls)) < 1e-9
        assert metric(text, "vecbridge_canary_reads_total", outcome="served") >= QUERIES
        assert metric(text, "vecbridge_canary_reads_total", outcome="fallback") == 0
        compared = metric(text, "vecbridge_shadow_comparisons_total", collection=unique_name)
        assert compared == QUERIES
    finally:
        proxy.kill()


def _exact_top(vectors: np.ndarray, q: np.ndarray) -> list[str]:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    distances = 1.0 - unit @ (q / np.linalg.norm(q))
    return [f"r-{i}" for i in np.argsort(distances)[:K]]
