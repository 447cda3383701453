"""QdrantStore specifics: on-disk layout, the local-mode lock, errors, the run() hook."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient

from adapters import qdrant_layout as layout
from adapters.base import (
    CollectionKey,
    CollectionMissing,
    CollectionSpec,
    QueryRequest,
    Record,
    Space,
    StoreRejected,
    StoreUnavailable,
)
from adapters.qdrant import QdrantStore
from proxy.upstream.embedded_chroma import free_port


def vec(*values: float) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


async def test_layout_on_disk(tmp_path: Path) -> None:
    key = CollectionKey(name="docs", tenant="acme~1", database="main")
    store = QdrantStore.open(path=tmp_path / "q")
    try:
        await store.create_collection(CollectionSpec(key=key, space=Space.COSINE,
                                                     metadata={"m": 1}, source_id="src"))
        assert await store.run(lambda c: c.collection_exists("acme%7E1~main~docs")) is False
        await store.upsert(CollectionSpec(key=key), [Record("a", vec(3, 4), {"l": [1, 2]})])
    finally:
        await store.close()
    client = QdrantClient(path=str(tmp_path / "q"))  # the lock was released by close()
    try:
        name = "acme%7E1~main~docs"
        info = client.get_collection(name)
        assert info.config.params.vectors.size == 2  # type: ignore[union-attr]
        point = client.retrieve(name, [str(uuid.uuid5(layout.POINT_NAMESPACE, "a"))],
                                with_vectors=True)[0]
        assert point.payload is not None
        assert point.payload["chroma_id"] == "a" and point.payload["list_keys"] == ["l"]
        stored = np.asarray(point.vector)  # local mode may hand back the raw or unit vector
        assert np.allclose(stored / np.linalg.norm(stored), [0.6, 0.8])
        assert np.array_equal(layout.decode_vector(point.payload["embedding_b64"]), vec(3, 4))
        catalog = client.retrieve(layout.CATALOG_COLLECTION, [layout.catalog_point_id(key)])
        assert catalog[0].payload is not None
        assert catalog[0].payload["dimension"] == 2
        assert catalog[0].payload["source_id"] == "src"
        assert catalog[0].payload["metadata"] == {"m": 1}
    finally:
        client.close()


async def test_reopen_keeps_everything(tmp_path: Path) -> None:
    key = CollectionKey(name="kept")
    store = QdrantStore.open(path=tmp_path / "q")
    await store.upsert(CollectionSpec(key=key, space=Space.IP), [Record("a", vec(1, 2))])
    with pytest.raises(StoreUnavailable):  # a second opener meets the lock
        QdrantStore.open(path=tmp_path / "q")
    await store.close()
    again = QdrantStore.open(path=tmp_path / "q")
    try:
        assert [s.key for s in await again.list_collections()] == [key]
        assert [r.id for r in await again.get(key, ["a"])] == ["a"]
    finally:
        await again.close()


async def test_rename_copies_every_page() -> None:
    store = QdrantStore.open(path=":memory:")
    old, new = CollectionKey(name="old"), CollectionKey(name="new", database="d2")
    try:
        rng = np.random.default_rng(1)
        records = [Record(f"r{i}", rng.standard_normal(3).astype(np.float32)) for i in range(700)]
        await store.upsert(CollectionSpec(key=old, space=Space.COSINE), records)
        await store.modify_collection(old, CollectionSpec(key=new, metadata={"x": 1}))
        assert await store.count(new) == 700
        with pytest.raises(CollectionMissing):
            await store.count(old)
        got = await store.get(new, ["r0", "r699"])
        assert got[0].same_as(records[0], 1e-7) and got[1].same_as(records[699], 1e-7)
        assert not await store.run(lambda c: c.collection_exists("old"))
    finally:
        await store.close()


async def test_errors_and_hooks() -> None:
    down = QdrantStore.open(url=f"http://127.0.0.1:{free_port()}", timeout=2.0)
    try:
        assert not await down.health()
        with pytest.raises(StoreUnavailable):
            await down.list_collections()
    finally:
        await down.close()
    store = QdrantStore.open(path=":memory:")
    key = CollectionKey(name="e")
    try:
        assert await store.health()
        await store.upsert(CollectionSpec(key=key), [Record("a", vec(1, 2))])
        with pytest.raises(StoreRejected):
            await store.query(key, QueryRequest(vectors=[vec(1, 2)], where={"a": 1}))
        with pytest.raises(CollectionMissing):  # translated inside run() too
            await store.run(lambda c: c.count("no-such-collection"))
        with pytest.raises(StoreRejected):
            await store.run(lambda c: c.scroll("e", limit=0))
        hits = await store.query(key, QueryRequest(vectors=[vec(1, 2)], ids=["a", "zz"]))
        assert [h.record.id for h in hits[0]] == ["a"] and hits[0][0].record.embedding is None
    finally:
        await store.close()
