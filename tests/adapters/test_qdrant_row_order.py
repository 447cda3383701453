"""Rows written through QdrantStore come back in Chroma's own row order."""

from __future__ import annotations

import chromadb
import numpy as np

from adapters.base import CollectionKey, CollectionSpec, GetRequest, Record
from adapters.qdrant import QdrantStore
from adapters.qdrant_layout import collection_name
from adapters.qdrant_reads import ReadTarget, get
from proxy.upstream.embedded_chroma import EmbeddedChroma


def _record(i: str, v: float) -> Record:
    return Record(id=i, embedding=np.array([v, 1.0, 2.0], dtype=np.float32), metadata={"v": v})


async def test_store_keeps_chromas_insertion_order(
    chroma_server: EmbeddedChroma, unique_name: str
) -> None:
    host, port = chroma_server.url.removeprefix("http://").split(":")
    chroma = chromadb.HttpClient(host=host, port=int(port)).create_collection(unique_name)
    store = QdrantStore.open(path=":memory:")
    spec = CollectionSpec(CollectionKey(unique_name))
    steps: list[tuple[str, list[str]]] = [
        ("upsert", ["c", "a", "e", "b", "d"]),
        ("upsert", ["a", "f"]),  # a keeps its place, f goes last
        ("delete", ["e"]),
        ("upsert", ["e", "g"]),  # a deleted id comes back at the end
        ("delete", ["c"]),
        ("upsert", ["d", "c"]),
    ]
    try:
        for step, (op, ids) in enumerate(steps):
            if op == "delete":
                chroma.delete(ids=ids)
                await store.delete(spec.key, ids)
                continue
            records = [_record(i, float(step)) for i in ids]
            chroma.upsert(ids=ids, embeddings=[r.embedding for r in records],  # type: ignore[misc]
                          metadatas=[r.metadata for r in records])  # type: ignore[misc]  # fmt: skip
            await store.upsert(spec, records)
        want = chroma.get()["ids"]
        for limit in (None, 3):
            got = await store.run(
                lambda c, limit=limit: get(
                    ReadTarget(c, collection_name(spec.key), spec.space, 3),
                    GetRequest(limit=limit),
                )
            )
            assert [r.id for r in got] == (want if limit is None else want[:limit])
    finally:
        await store.close()
