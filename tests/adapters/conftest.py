"""Stores under test: every VectorStore implementation, each against a real engine."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from adapters.base import CollectionKey, VectorStore
from adapters.chroma import ChromaStore
from adapters.memory import MemoryStore
from adapters.qdrant import QdrantStore
from adapters.qdrant_edge import EdgeStore
from proxy.upstream.embedded_chroma import EmbeddedChroma

STORE_KINDS = ["chroma", "qdrant-memory", "qdrant-path", "qdrant-edge", "memory"]


async def open_store(kind: str, chroma: EmbeddedChroma, tmp_path: Path) -> VectorStore:
    """A fresh store of ``kind`` (Chroma shares the session server: use unique names)."""
    if kind == "chroma":
        return ChromaStore(chroma.url)
    if kind == "qdrant-memory":
        return QdrantStore.open(path=":memory:", exact=True)
    if kind == "qdrant-path":
        return QdrantStore.open(path=tmp_path / "qdrant", exact=True)
    if kind == "qdrant-edge":
        return EdgeStore.open(tmp_path / "edge", exact=True)
    return MemoryStore()


@pytest.fixture(params=STORE_KINDS)
async def store(
    request: pytest.FixtureRequest, chroma_server: EmbeddedChroma, tmp_path: Path
) -> AsyncIterator[VectorStore]:
    """Each store kind in turn."""
    opened = await open_store(request.param, chroma_server, tmp_path)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def key() -> CollectionKey:
    """A collection key no other test uses."""
    return CollectionKey(name="c-" + uuid.uuid4().hex[:12])


StoreFactory = Callable[[str], Awaitable[VectorStore]]


@pytest.fixture
async def store_factory(
    chroma_server: EmbeddedChroma, tmp_path: Path
) -> AsyncIterator[StoreFactory]:
    """Opens stores of any kind (see ``STORE_KINDS``); all closed after the test."""
    opened: list[VectorStore] = []

    async def factory(kind: str) -> VectorStore:
        store = await open_store(kind, chroma_server, tmp_path / kind)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        await store.close()
