"""dialects/chroma/read_translation.py over a real QdrantStore (local mode) behind a FaultyStore."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import orjson
import pytest

from adapters.base import CollectionKey, CollectionSpec, Record, Space, StoreUnavailable
from adapters.faults import FaultyStore
from adapters.qdrant import QdrantStore
from proxy.dialects.chroma.read_translation import NotServable, TargetReader
from proxy.dialects.chroma.routes import Kind, Route

UUID = "7d1c6b0e-0000-4000-8000-000000000001"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store() -> AsyncIterator[FaultyStore]:
    inner = QdrantStore.open(path=":memory:")
    spec = CollectionSpec(CollectionKey("books"), Space.L2, 2, source_id=UUID)
    await inner.create_collection(spec)
    await inner.upsert(spec, [Record(f"id{i}", np.array([i, 0.0], np.float32)) for i in range(5)])
    wrapped = FaultyStore(inner)
    yield wrapped
    await inner.close()


def _route(name: str, collection: str = UUID) -> Route:
    return Route(name, Kind.READ, "default_tenant", "default_database", collection)


async def test_answers_in_chroma_format_and_faults_apply(store: FaultyStore) -> None:
    clock = Clock()
    reader = TargetReader(store, clock=clock)
    count = await reader.answer(_route("count"), b"")
    assert (count.status, count.body, count.collection) == (200, b"5", "books")
    body = orjson.dumps({"query_embeddings": [[0.9, 0.0]], "n_results": 2, "include": []})
    query = orjson.loads((await reader.answer(_route("query"), body)).body)
    assert query["ids"] == [["id1", "id0"]]
    bad = await reader.answer(_route("get"), orjson.dumps({"where": {"$bad": 1}}))
    assert bad.status == 400 and orjson.loads(bad.body)["error"] == "InvalidArgumentError"
    store.settings = store.settings.updated(down=True)
    with pytest.raises(StoreUnavailable):  # the injected fault reaches the run() call
        await reader.answer(_route("count"), b"")


async def test_spec_cache_unknown_uuid_and_down_store(store: FaultyStore) -> None:
    clock = Clock()
    reader = TargetReader(store, clock=clock)
    with pytest.raises(NotServable):
        await reader.answer(_route("count", "not-a-known-uuid"), b"")
    assert (await reader.spec(UUID)) is not None  # listed within the second: cached
    store.settings = store.settings.updated(down=True)
    clock.now += 60  # stale: re-read in the background, the known spec still serves
    assert (await reader.spec(UUID)) is not None
    reader.forget()
    fresh = TargetReader(store, clock=clock)
    with pytest.raises(StoreUnavailable):
        await fresh.spec(UUID)
    with pytest.raises(StoreUnavailable):  # within the retry second: no new listing
        await fresh.spec(UUID)
