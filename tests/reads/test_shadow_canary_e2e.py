"""Canary and shadow through a real proxy: answers equal Chroma's; faults never reach the app.

Must-show 3 (behaviour part): with the new store stopped, canary reads fall back to the
primary with no error reaching the app and the fallback is counted; with it slowed,
shadow reads time out and are counted while the app's answers stay Chroma's.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from shadow_support import client_of, load, metric, start, wait_compared

from proxy.upstream.embedded_chroma import EmbeddedChroma

N, DIM = 300, 8


def _reads(collection: Any, queries: np.ndarray) -> list[Any]:
    """A fixed mix of get / query / count the app makes."""
    out: list[Any] = [collection.count()]
    out.append(collection.get(ids=["r-5", "r-1", "r-404"]))
    out.append(collection.get(where={"even": True}, limit=7, offset=3))
    out.append(collection.get(ids=["r-2", "r-3"], include=["embeddings", "documents"]))
    for q in queries:
        out.append(collection.query(query_embeddings=[q.tolist()], n_results=5))
    out.append(collection.query(query_embeddings=queries[:2].tolist(), n_results=3,
                                where={"i": {"$gte": 100}}))  # fmt: skip
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        same_keys: bool = a.keys() == b.keys()
        return same_keys and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple | np.ndarray):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return bool(abs(a - b) <= 1e-4 * max(1.0, abs(a)))
    return bool(a == b)


def _setup(tmp: Path, chroma: EmbeddedChroma, name: str, phase: str, **sections: Any) -> Any:
    rng = np.random.default_rng(5)
    vectors, queries = rng.normal(size=(N, DIM)).astype(np.float32), rng.normal(size=(4, DIM))
    sections.setdefault("target", {"path": ":memory:", "exact_search": True})
    proxy = start(tmp, chroma.url, phase, **sections)
    via_proxy = load(proxy, name, vectors)
    direct = client_of(chroma.url).get_collection(name)
    return proxy, via_proxy, direct, queries


def test_canary_answers_equal_chromas_and_shadow_finds_no_mismatch(
    tmp_path: Path, chroma_server: EmbeddedChroma, unique_name: str
) -> None:
    proxy, via_proxy, direct, queries = _setup(
        tmp_path, chroma_server, unique_name, "canary", canary={"percent": 100},
        shadow={"sample_rate": 1.0},
    )  # fmt: skip
    try:
        ours, theirs = _reads(via_proxy, queries), _reads(direct, queries)
        for n, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert _same(a, b), f"read {n}: proxy {a} chroma {b}"
        reads = len(ours)
        snapshot = wait_compared(proxy, reads)
        text = proxy.get_text("/metrics")
        assert metric(text, "vecbridge_canary_reads_total", outcome="served") == reads
        assert snapshot["by_category"] == {"match": reads}, snapshot["worst"]
    finally:
        proxy.kill()


def test_new_store_down_canary_falls_back_without_errors(
    tmp_path: Path, chroma_server: EmbeddedChroma, unique_name: str
) -> None:
    proxy, via_proxy, direct, queries = _setup(
        tmp_path, chroma_server, unique_name, "canary", canary={"percent": 100},
        shadow={"sample_rate": 1.0},
    )  # fmt: skip
    try:
        proxy.post("/-/faults", {"down": True, "reads_only": True})
        ours, theirs = _reads(via_proxy, queries), _reads(direct, queries)  # no exception
        for n, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert _same(a, b), f"read {n}: proxy {a} chroma {b}"
        text = proxy.get_text("/metrics")
        assert metric(text, "vecbridge_canary_reads_total", outcome="fallback") == len(ours)
        assert metric(text, "vecbridge_canary_reads_total", outcome="served") == 0
        snapshot = wait_compared(proxy, len(ours))
        assert snapshot["by_category"] == {"error": len(ours)}  # shadowed to the dead store
        proxy.post("/-/faults", {"down": False})
        deadline = time.monotonic() + 30  # the catalog is re-read at most once a second
        while not metric(proxy.get_text("/metrics"), "vecbridge_canary_reads_total",
                         outcome="served"):  # fmt: skip
            assert time.monotonic() < deadline, "the new store never served again"
            assert _same(via_proxy.count(), direct.count())
            time.sleep(0.2)
    finally:
        proxy.kill()


def test_slow_new_store_shadow_times_out_and_app_is_unaffected(
    tmp_path: Path, chroma_server: EmbeddedChroma, unique_name: str
) -> None:
    proxy, via_proxy, direct, queries = _setup(
        tmp_path, chroma_server, unique_name, "shadow",
        shadow={"sample_rate": 1.0, "timeout_seconds": 0.2, "queue_size": 4, "concurrency": 1},
    )  # fmt: skip
    try:
        proxy.post("/-/faults", {"latency_seconds": 0.5, "reads_only": True})
        ours, theirs = _reads(via_proxy, queries), _reads(direct, queries)
        for n, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert _same(a, b), f"read {n}: proxy {a} chroma {b}"
        text = proxy.get_text("/metrics")
        dropped = metric(text, "vecbridge_shadow_dropped_total", reason="queue_full")
        snapshot = wait_compared(proxy, len(ours) - int(dropped))
        assert snapshot["by_category"].get("timeout", 0) >= 1
        assert set(snapshot["by_category"]) <= {"timeout"}
        assert snapshot["compared"] + snapshot["dropped"] == len(ours)
        text = proxy.get_text("/metrics")
        timeouts = metric(text, "vecbridge_shadow_comparisons_total", category="timeout")
        assert timeouts == snapshot["by_category"]["timeout"]
        assert metric(text, "vecbridge_canary_reads_total") == 0  # shadow phase: no canary
    finally:
        proxy.kill()
