"""Backfill throughput and peak RSS: vecbridge's backfill vs the migration guide's naive loop.

    python bench/backfill.py [--records 100000] [--dim 384] [--path-records 20000]

Seeds a real Chroma server, then runs each measurement in a fresh child process (so
``ru_maxrss`` is that run's own peak):

* backfill -> Qdrant ``:memory:`` and naive loop -> ``:memory:`` (target not the bottleneck)
* backfill -> a null target (discards writes): the backfill's own peak RSS, at 10k and
  at the full size, to show it does not grow with the collection
* both into Qdrant local path mode (commits per point: ~900 records/s), smaller size

The naive loop is the guide's: get everything, write JSONL, read it back, upsert
sequentially in batches of 100. Its single ``get()`` of a whole collection fails on
Chroma 1.5.9 beyond 32,766 records ("too many SQL variables"), so it is split into the
fewest equal gets under that limit (4 gets for 100,000).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
GET_LIMIT = 32_766


def seed(url: str, name: str, count: int, dim: int) -> None:
    import chromadb

    host, port = url.removeprefix("http://").split(":")
    col = chromadb.HttpClient(host=host, port=int(port)).create_collection(name)
    rng = np.random.default_rng(1)
    for start in range(0, count, 2000):
        n = min(2000, count - start)
        col.add(ids=[f"id-{i}" for i in range(start, start + n)],
                embeddings=rng.normal(size=(n, dim)).astype(np.float32),
                metadatas=[{"i": i, "s": "x" * 8} for i in range(n)],
                documents=[f"document {i}" for i in range(n)])


class NullStore:
    """A target that forgets everything: measures the backfill's own memory."""

    async def create_collection(self, spec: Any) -> None: ...
    async def describe_collection(self, key: Any) -> None: ...
    async def upsert(self, spec: Any, records: Any) -> None: ...
    async def close(self) -> None: ...


async def run_backfill(url: str, name: str, target_kind: str, tmp: Path) -> int:
    from adapters.base import CollectionKey
    from adapters.chroma import ChromaStore
    from adapters.qdrant import QdrantStore
    from proxy.journal.journal import Journal
    from proxy.migration.backfill import BackfillOptions, run_backfill

    source = ChromaStore(url)
    target: Any = NullStore() if target_kind == "null" else QdrantStore.open(
        path=":memory:" if target_kind == "memory" else str(tmp / "qdrant"))
    journal = await Journal(tmp / "journal.sqlite").open()
    spec = await source.describe_collection(CollectionKey(name))
    assert spec is not None
    run = await run_backfill(source, target, journal, [spec],
                             BackfillOptions(batch_size=1000, concurrency=4))
    await journal.close()
    await source.close()
    await target.close()
    return int(run.collections[str(spec.key)].copied)


def run_naive(url: str, name: str, target_kind: str, tmp: Path) -> int:
    import chromadb
    from qdrant_client import QdrantClient
    from qdrant_client.http import models as qm

    host, port = url.removeprefix("http://").split(":")
    col = chromadb.HttpClient(host=host, port=int(port)).get_collection(name)
    total = col.count()
    gets = math.ceil(total / GET_LIMIT)
    size = math.ceil(total / gets)
    dump = tmp / "dump.jsonl"
    with dump.open("w") as out:
        for part in range(gets):
            data: Any = col.get(include=["embeddings", "metadatas", "documents"],
                           limit=size, offset=part * size)
            for i, rid in enumerate(data["ids"]):
                out.write(json.dumps({"id": rid, "embedding": data["embeddings"][i].tolist(),
                                      "metadata": data["metadatas"][i],
                                      "document": data["documents"][i]}) + "\n")
    rows = [json.loads(line) for line in dump.open()]
    client = QdrantClient(location=":memory:") if target_kind == "memory" else \
        QdrantClient(path=str(tmp / "qdrant"))
    client.create_collection(name, vectors_config=qm.VectorParams(
        size=len(rows[0]["embedding"]), distance=qm.Distance.EUCLID))
    for start in range(0, len(rows), 100):
        client.upsert(name, [qm.PointStruct(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, r["id"])), vector=r["embedding"],
            payload={"chroma_id": r["id"], "metadata": r["metadata"],
                     "document": r["document"]}) for r in rows[start:start + 100]])
    copied = client.count(name).count
    client.close()
    return copied


def child(method: str, url: str, name: str, target_kind: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        if method == "backfill":
            copied = asyncio.run(run_backfill(url, name, target_kind, Path(tmp)))
        else:
            copied = run_naive(url, name, target_kind, Path(tmp))
        seconds = time.perf_counter() - began
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"method": method, "target": target_kind, "records": copied,
                      "seconds": round(seconds, 2), "records_per_second": round(copied / seconds),
                      "peak_rss_mb": round(rss)}))


def measure(method: str, url: str, name: str, target_kind: str) -> dict[str, Any]:
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    done = subprocess.run([sys.executable, __file__, "_child", method, url, name, target_kind],
                          capture_output=True, text=True, env=env, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    print(result, file=sys.stderr)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--path-records", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    args = parser.parse_args()
    from proxy.upstream.embedded_chroma import EmbeddedChroma

    with tempfile.TemporaryDirectory() as tmp, EmbeddedChroma(Path(tmp) / "chroma") as chroma:
        sizes = {"big": args.records, "small": min(10_000, args.records),
                 "path": args.path_records}
        for name, count in sizes.items():
            began = time.perf_counter()
            seed(chroma.url, name, count, args.dim)
            print(f"seeded {name}: {count} in {time.perf_counter() - began:.0f}s",
                  file=sys.stderr)
        rows = [measure("backfill", chroma.url, "big", "memory"),
                measure("naive", chroma.url, "big", "memory"),
                measure("backfill", chroma.url, "small", "null"),
                measure("backfill", chroma.url, "big", "null"),
                measure("backfill", chroma.url, "path", "path"),
                measure("naive", chroma.url, "path", "path")]
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))
    print("| method | target | records | seconds | records/s | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['target']} | {r['records']:,} | {r['seconds']} | "
              f"{r['records_per_second']:,} | {r['peak_rss_mb']} |")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        child(*sys.argv[2:6])
    else:
        main()
