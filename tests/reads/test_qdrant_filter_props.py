"""The Qdrant translation selects exactly (or, when it says so, a superset of) the rows
the exact evaluator accepts: generated filters over generated rows, no server needed."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qdrant_client import QdrantClient, models
from reads_mirror import random_metadata
from reads_strategies import wheres

from adapters.base import Record, Space
from adapters.chroma_filter import matches_where
from adapters.qdrant_filter import translate_where
from adapters.qdrant_layout import point_id, record_payload

ROWS = 60


@pytest.fixture(scope="module")
def loaded() -> tuple[QdrantClient, dict[str, Any]]:
    rng = random.Random(5)
    client = QdrantClient(":memory:")
    client.create_collection(
        "props", vectors_config=models.VectorParams(size=2, distance=models.Distance.EUCLID)
    )
    metas = {f"p{n}": random_metadata(rng) for n in range(ROWS)}
    client.upsert(
        "props",
        [
            models.PointStruct(
                id=point_id(i),
                vector=[0.0, 1.0],
                payload=record_payload(Record(i, metadata=m), Space.L2),
            )
            for i, m in metas.items()
        ],
    )
    return client, metas


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(where=wheres, bugs=st.booleans())
def test_translation_is_exact_or_superset(
    loaded: tuple[QdrantClient, dict[str, Any]], where: dict[str, Any], bugs: bool
) -> None:
    client, metas = loaded
    translation = translate_where(where, bugs)
    points, _ = client.scroll("props", scroll_filter=translation.filter, limit=ROWS + 1)
    selected = {p.payload["chroma_id"] for p in points if p.payload}
    expected = {i for i, m in metas.items() if matches_where(where, m, bugs)}
    assert expected <= selected
    if translation.exact:
        assert selected == expected


def test_exactness_flags() -> None:
    assert translate_where({"n": 1}).exact
    assert translate_where({"n": {"$nin": ["a", "b"]}}).exact
    assert translate_where({"n": {"$contains": True}}).exact
    assert not translate_where({"n": {"$contains": 2.0}}).exact  # int lists hold 2 too
    assert not translate_where({"n": {"$lt": 0.5}}).exact  # chroma#7491 emulation
    assert translate_where({"n": {"$lt": 0.5}}, chroma_bugs=False).exact
    assert not translate_where({"n": {"$not_contains": 2.0}}).exact
    assert translate_where({"k.4": "a"}).exact  # quoted key path
    assert not translate_where({'k"q': "a"}).exact
    assert translate_where(None).filter is None
