"""The VectorStore contract, run against every store (real Chroma, Qdrant local, memory)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace

import numpy as np
import pytest

from adapters.base import (
    CollectionKey,
    CollectionMissing,
    CollectionSpec,
    QueryRequest,
    Record,
    Space,
    StoreRejected,
    VectorStore,
)
from adapters.memory import MemoryStore

DIM = 8
KINDS = ["chroma", "qdrant-memory", "qdrant-path", "memory"]


def make_records(count: int, seed: int = 0, prefix: str = "r") -> list[Record]:
    """Varied records: metadata of every value type, some None fields, unnormalised vectors.

    Floats are binary-exact: Chroma 1.5.9 may change the last bits of others
    (98.66666666666667 reads back as 98.66666666666669).
    """
    rng = np.random.default_rng(seed)
    records = []
    for i in range(count):
        vector = (rng.standard_normal(DIM) * 3.0).astype(np.float32)
        metadata = {"i": i, "f": float(i) / 4 + 0.5, "s": f"v{i % 7}", "b": i % 2 == 0,
                    "tags": ["x", f"t{i % 3}"]} if i % 5 else None
        records.append(Record(f"{prefix}{i}", vector, metadata,
                              f"doc {i}" if i % 4 else None, f"uri://{i}" if i % 3 else None))
    return records


def assert_same(got: list[Record], want: list[Record]) -> None:
    assert [r.id for r in got] == [r.id for r in want]
    for g, w in zip(got, want, strict=True):
        assert g.same_as(w, tolerance=1e-6), (g, w)


async def test_collection_lifecycle(store: VectorStore, key: CollectionKey) -> None:
    spec = CollectionSpec(key=key, space=Space.COSINE, metadata={"owner": "a", "n": 1})
    await store.create_collection(spec)
    await store.create_collection(replace(spec, metadata={"other": 2}))  # no-op when present
    described = await store.describe_collection(key)
    assert described is not None
    assert (described.key, described.space, described.metadata) == (key, Space.COSINE,
                                                                      {"owner": "a", "n": 1})
    assert key in [s.key for s in await store.list_collections()]

    renamed = CollectionKey(name=key.name + "-new")
    await store.upsert(spec, make_records(3))
    await store.modify_collection(key, replace(spec, key=renamed, metadata={"owner": "b"}))
    assert await store.describe_collection(key) is None
    moved = await store.describe_collection(renamed)
    assert moved is not None and moved.metadata == {"owner": "b"}
    assert moved.space is Space.COSINE and moved.dimension == DIM
    assert_same(await store.get(renamed, ["r0", "r1", "r2"]), make_records(3))

    await store.delete_collection(renamed)
    await store.delete_collection(renamed)  # idempotent
    assert await store.describe_collection(renamed) is None
    assert renamed not in [s.key for s in await store.list_collections()]
    with pytest.raises(CollectionMissing):
        await store.count(renamed)


@pytest.mark.parametrize("space", list(Space))
async def test_upsert_then_get_returns_the_originals(
    store: VectorStore, key: CollectionKey, space: Space
) -> None:
    records = make_records(40)
    await store.upsert(CollectionSpec(key=key, space=space), records)
    described = await store.describe_collection(key)
    assert described is not None and described.dimension == DIM
    ids = ["r7", "missing", "r3", "r7", "r0"]
    assert_same(await store.get(key, ids), [records[7], records[3], records[0]])
    assert_same(await store.get(key, [r.id for r in records]), records)
    assert await store.count(key) == 40


async def test_upsert_replaces_whole_records(store: VectorStore, key: CollectionKey) -> None:
    spec = CollectionSpec(key=key, space=Space.L2)
    v = np.arange(DIM, dtype=np.float32)
    await store.upsert(spec, [
        Record("a", v, {"keep": 1, "drop": "x"}, "doc a", "uri a"),
        Record("b", v, {"k": 1}, "doc b", "uri b"),
        Record("c", v, {"k": 1}, "doc c", None),
    ])
    new = [
        Record("a", v + 1, {"keep": 2}, "doc a2", "uri a"),  # key dropped
        Record("b", v, None, None, None),  # everything cleared
        Record("c", v, {"k": 1}, None, "uri c"),  # document cleared, uri added
    ]
    await store.upsert(spec, new)
    assert_same(await store.get(key, ["a", "b", "c"]), new)
    assert await store.count(key) == 3


async def test_delete_ignores_missing(store: VectorStore, key: CollectionKey) -> None:
    spec = CollectionSpec(key=key)
    await store.upsert(spec, make_records(10))
    await store.delete(key, ["r1", "r2", "nope"])
    await store.delete(key, ["r1"])
    assert await store.count(key) == 8
    assert await store.get(key, ["r1", "r2", "r3"]) != []
    assert [r.id for r in await store.get(key, ["r1", "r2", "r3"])] == ["r3"]
    await store.delete(CollectionKey(name=key.name + "-absent"), ["r3"])  # no error


async def test_scroll_returns_every_record_once(store: VectorStore, key: CollectionKey) -> None:
    records = make_records(2500, seed=3)
    await store.upsert(CollectionSpec(key=key, space=Space.COSINE), records)
    seen: Counter[str] = Counter()
    cursor: str | None = None
    pages = 0
    while True:
        page = await store.scroll(key, cursor, 300)
        assert len(page.records) <= 300
        seen.update(r.id for r in page.records)
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == Counter(r.id for r in records)
    assert pages >= 9
    sample = {r.id: r for r in records}
    first = (await store.scroll(key, None, 5)).records
    for record in first:  # full images, original (non-normalised) vectors
        assert record.same_as(sample[record.id], tolerance=1e-6)


@pytest.mark.parametrize("space", list(Space))
async def test_query_agrees_across_stores(
    space: Space, store_factory: Callable[[str], Awaitable[VectorStore]], key: CollectionKey
) -> None:
    records = make_records(300, seed=11)
    rng = np.random.default_rng(12)
    queries = [(rng.standard_normal(DIM) * 3.0).astype(np.float32) for _ in range(5)]
    request = QueryRequest(vectors=queries, k=7, exact=True, with_embeddings=True)
    answers = {}
    for kind in KINDS:
        store = await store_factory(kind)
        await store.upsert(CollectionSpec(key=key, space=space), records)
        answers[kind] = await store.query(key, request)
    reference = answers["memory"]
    by_id = {r.id: r for r in records}
    for kind, hits in answers.items():
        assert len(hits) == len(queries), kind
        for got, want in zip(hits, reference, strict=True):
            assert [h.record.id for h in got] == [h.record.id for h in want], kind
            np.testing.assert_allclose([h.distance for h in got], [h.distance for h in want],
                                       rtol=1e-4, atol=1e-4, err_msg=kind)
            for h in got:
                assert h.record.same_as(by_id[h.record.id], tolerance=1e-5), kind


async def test_wrong_dimension_is_rejected(store: VectorStore, key: CollectionKey) -> None:
    spec = CollectionSpec(key=key)
    await store.upsert(spec, make_records(2))
    bad = Record("x", np.ones(DIM + 1, dtype=np.float32))
    with pytest.raises(StoreRejected):
        await store.upsert(spec, [bad])
    assert await store.count(key) == 2


async def test_dimension_from_spec_then_empty_reads(store: VectorStore, key: CollectionKey) -> None:
    await store.create_collection(CollectionSpec(key=key, space=Space.IP))
    assert await store.count(key) == 0
    assert await store.get(key, ["a"]) == []
    page = await store.scroll(key, None, 10)
    assert page.records == [] and page.next_cursor is None
    assert await store.query(key, QueryRequest(vectors=[np.ones(DIM, np.float32)])) == [[]]


def test_memory_store_is_a_vector_store() -> None:
    assert isinstance(MemoryStore(), VectorStore)
