"""``get`` with a limit pages by ``seq`` (ordered scroll, the default) only where every
point carries ``seq``; points an older version wrote without it are still returned."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import numpy as np
import orjson
import pytest
from qdrant_client import QdrantClient
from qdrant_client.http import models as qm

from adapters.base import CollectionKey, CollectionSpec, Record, Space
from adapters.qdrant import QdrantStore
from adapters.qdrant_layout import point_id, record_payload
from proxy.dialects.chroma.read_translation import TargetReader
from proxy.dialects.chroma.routes import Kind, Route

UUID = str(uuid.uuid4())
SPEC = CollectionSpec(CollectionKey("books"), Space.L2, 2, source_id=UUID)


@pytest.fixture
async def store() -> AsyncIterator[QdrantStore]:
    opened = QdrantStore.open(path=":memory:")
    await opened.create_collection(SPEC)
    records = [Record(f"id{i}", np.array([i, 0.0], np.float32)) for i in range(6)]
    await opened.upsert(SPEC, records)
    yield opened
    await opened.close()


async def _get_ids(reader: TargetReader, body: dict[str, object]) -> list[str]:
    route = Route("get", Kind.READ, "default_tenant", "default_database", UUID)
    answer = await reader.answer(route, orjson.dumps(body))
    assert answer.status == 200, answer.body
    ids: list[str] = orjson.loads(answer.body)["ids"]
    return ids


async def test_ordered_and_full_scan_agree(store: QdrantStore) -> None:
    ordered, scanned = TargetReader(store), TargetReader(store, ordered_scroll=False)
    bodies: list[dict[str, object]] = [
        {"limit": 4}, {"limit": 2, "offset": 3}, {"limit": 10, "where": {"x": 1}},
    ]  # fmt: skip
    for body in bodies:
        assert await _get_ids(ordered, body) == await _get_ids(scanned, body)
    assert await _get_ids(ordered, {"limit": 3, "offset": 1}) == ["id1", "id2", "id3"]
    assert "books" in ordered._seq_complete  # the ordered path was really taken


async def test_points_without_seq_are_not_skipped(store: QdrantStore) -> None:
    def legacy(client: QdrantClient) -> None:
        # What a version before ``seq`` wrote: the same layout, no seq field.
        points = [
            qm.PointStruct(
                id=point_id(f"old{i}"), vector=[10.0 + i, 0.0],
                payload=record_payload(Record(f"old{i}", None), Space.L2),
            )
            for i in range(2)
        ]  # fmt: skip
        client.upsert("books", points, wait=True)

    await store.run(legacy)
    reader = TargetReader(store)
    got = await _get_ids(reader, {"limit": 100})
    assert sorted(got) == sorted([f"id{i}" for i in range(6)] + ["old0", "old1"])
    assert got[:6] == [f"id{i}" for i in range(6)]  # seq order first, unknown places last
    assert "books" not in reader._seq_complete
