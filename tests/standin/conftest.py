"""Fixtures of the stand-in tests: the project's ``QdrantStore`` over the stand-in's URL.

``store`` / ``key`` / ``store_factory`` have the names and meaning of
tests/adapters/conftest.py, so the store contract's test functions run here unchanged
(test_standin_contract.py). The contract's cross-store comparison asks the factory for
``chroma``, ``qdrant-memory``, ``qdrant-path`` and ``memory``: here ``memory`` is the
reference ``MemoryStore``, ``qdrant-memory`` qdrant-client's local mode in this process,
and the others are stores over the stand-in (``qdrant-path`` exact; ``chroma``, or any
other kind, with the server's default search on a second stand-in: the key is the same).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from standin_support import QdrantStandin, qdrant_standin

from adapters.base import CollectionKey, VectorStore
from adapters.memory import MemoryStore
from adapters.qdrant import QdrantStore

__all__ = ["qdrant_standin"]


@pytest.fixture(scope="module")
def shared_standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QdrantStandin]:
    """One stand-in for a module's tests (they use unique collection names)."""
    with QdrantStandin(tmp_path_factory.mktemp("standin") / "qdrant") as standin:
        yield standin


@pytest.fixture(scope="module")
def second_standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QdrantStandin]:
    """Another stand-in, for comparisons that need two stores with the same key."""
    with QdrantStandin(tmp_path_factory.mktemp("standin2") / "qdrant") as standin:
        yield standin


@pytest.fixture
async def store(shared_standin: QdrantStandin) -> AsyncIterator[VectorStore]:
    """``QdrantStore`` through its remote code path, over the shared stand-in."""
    opened = QdrantStore.open(url=shared_standin.url, exact=True)
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
    shared_standin: QdrantStandin, second_standin: QdrantStandin
) -> AsyncIterator[StoreFactory]:
    """Stores by the contract's kind names (see the module docstring); closed after."""
    opened: list[VectorStore] = []

    async def factory(kind: str) -> VectorStore:
        if kind == "memory":
            store: VectorStore = MemoryStore()
        elif kind == "qdrant-memory":
            store = QdrantStore.open(path=":memory:", exact=True)
        elif kind == "qdrant-path":
            store = QdrantStore.open(url=shared_standin.url, exact=True)
        else:
            store = QdrantStore.open(url=second_standin.url, exact=False)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        await store.close()
