"""A mixed write workload through the real chromadb client, for tests and benchmarks.

Writers share an id pool, so their writes overlap: add, upsert, update with partial
metadata (and nulls that delete keys), delete by ids, delete by ``where``.
Every operation whose call returned normally is acknowledged; errors are counted.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import chromadb
import numpy as np


@dataclass
class WorkloadResult:
    acknowledged: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, ok: bool, error: str = "") -> None:
        with self.lock:
            if ok:
                self.acknowledged += 1
            else:
                self.failed += 1
                if len(self.errors) < 20:
                    self.errors.append(error)


def _vectors(rng: np.random.Generator, n: int, dim: int) -> list[list[float]]:
    return rng.normal(size=(n, dim)).astype(np.float32).tolist()  # type: ignore[no-any-return]


def _metadata(rng: random.Random, partial: bool) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "bucket": rng.randrange(20),
        "score": rng.random(),
        "tag": rng.choice(["red", "green", "blue"]),
        "flag": rng.random() < 0.5,
    }
    if rng.random() < 0.3:
        meta["labels"] = [rng.choice(["x", "y", "z"]) for _ in range(rng.randint(1, 3))]
    if partial:
        keep = rng.sample(sorted(meta), k=rng.randint(1, 2))
        meta = {k: meta[k] for k in keep}
        if rng.random() < 0.3:
            meta["tag"] = None  # a null deletes the key in Chroma
    return meta


def _connect(host: str, port: int, collection: str, attempts: int = 100) -> Any:
    """The collection handle; retried, since the proxy may be restarting (kill tests)."""
    for _ in range(attempts - 1):
        try:
            return chromadb.HttpClient(host=host, port=port).get_collection(collection)
        except Exception:
            time.sleep(0.1)
    return chromadb.HttpClient(host=host, port=port).get_collection(collection)


def run_writer(
    host: str,
    port: int,
    collection: str,
    seed: int,
    operations: int,
    id_pool: int,
    dim: int,
    result: WorkloadResult,
    stop: threading.Event | None = None,
) -> None:
    """One writer: ``operations`` random writes on a shared id pool."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    col = _connect(host, port, collection)
    for _ in range(operations):
        if stop is not None and stop.is_set():
            return
        n = rng.randint(1, 5)
        ids = [f"id-{rng.randrange(id_pool)}" for _ in range(n)]
        ids = list(dict.fromkeys(ids))
        op = rng.choices(["add", "upsert", "update", "delete", "delete_where"], [3, 4, 3, 1, 0.3])[
            0
        ]
        try:
            if op == "add":
                col.add(ids=ids, embeddings=_vectors(nrng, len(ids), dim),  # type: ignore[arg-type]
                        metadatas=[_metadata(rng, False) for _ in ids],
                        documents=[f"doc {i} {rng.random():.4f}" for i in ids])  # fmt: skip
            elif op == "upsert":
                col.upsert(ids=ids, embeddings=_vectors(nrng, len(ids), dim),  # type: ignore[arg-type]
                           metadatas=[_metadata(rng, True) for _ in ids])  # fmt: skip
            elif op == "update":
                if rng.random() < 0.5:
                    col.update(ids=ids, metadatas=[_metadata(rng, True) for _ in ids])  # type: ignore[arg-type]
                else:
                    col.update(ids=ids, embeddings=_vectors(nrng, len(ids), dim),  # type: ignore[arg-type]
                               documents=[f"updated {rng.random():.4f}" for _ in ids])  # fmt: skip
            elif op == "delete":
                col.delete(ids=ids)
            else:
                col.delete(where={"$and": [{"bucket": rng.randrange(20)}, {"tag": "red"}]})
            result.record(True)
        except Exception as exc:  # the app's view: an error is an unacknowledged write
            result.record(False, f"{op}: {type(exc).__name__}: {exc}")
            time.sleep(0.05)


def run_workload(
    host: str,
    port: int,
    collection: str,
    writers: int = 8,
    operations: int = 10_000,
    id_pool: int = 400,
    dim: int = 16,
    stop: threading.Event | None = None,
) -> WorkloadResult:
    """``operations`` writes spread over ``writers`` concurrent threads."""
    result = WorkloadResult()
    per_writer = operations // writers
    threads = [
        threading.Thread(
            target=run_writer,
            args=(host, port, collection, seed, per_writer, id_pool, dim, result, stop),
            name=f"writer-{seed}",
        )
        for seed in range(writers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return result
