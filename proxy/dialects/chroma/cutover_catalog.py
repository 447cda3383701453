"""Which target collection a Chroma collection UUID names, from cutover on.

Record writes address collections by Chroma's UUID. The target's catalog keeps it as
``source_id`` (backfill and the journal copy it from Chroma, and cutover's collection
writes keep the two sides on the same UUID), so the new store can resolve a UUID
without asking the old store, which may be down.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from adapters.base import CollectionKey, CollectionSpec, VectorStore

T = TypeVar("T")


class RunnableStore(VectorStore, Protocol):
    """A VectorStore that runs engine code on its client thread (QdrantStore, FaultyStore)."""

    async def run(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(client)`` on the store's worker thread."""


class TargetCollections:
    """UUID -> spec of the target's collections, cached; refreshed on a miss."""

    def __init__(self, target: VectorStore) -> None:
        self._target = target
        self._by_id: dict[str, CollectionSpec] = {}

    async def by_id(self, tenant: str, database: str, uuid: str) -> CollectionSpec | None:
        """The spec of the collection with Chroma UUID ``uuid`` in that tenant/database."""
        spec = self._by_id.get(uuid)
        if spec is None:
            await self._reload()
            spec = self._by_id.get(uuid)
        if spec is None or (spec.key.tenant, spec.key.database) != (tenant, database):
            return None
        return spec

    async def by_name(self, key: CollectionKey) -> CollectionSpec | None:
        """The target's spec of a collection named by key (None when it has none)."""
        return await self._target.describe_collection(key)

    async def refresh(self, uuid: str) -> CollectionSpec | None:
        """Read one spec again (its dimension may have been learned meanwhile)."""
        spec = self._by_id.get(uuid)
        if spec is None:
            return None
        fresh = await self._target.describe_collection(spec.key)
        if fresh is None:
            self._by_id.pop(uuid, None)
        else:
            self._by_id[uuid] = fresh
        return fresh

    def learned(self, uuid: str, dimension: int | None) -> None:
        """The first upsert fixed the collection's dimension."""
        spec = self._by_id.get(uuid)
        if spec is not None and spec.dimension is None and dimension is not None:
            self._by_id[uuid] = spec.with_dimension(dimension)

    def forget(self) -> None:
        """Drop the cache (after any collection-level write)."""
        self._by_id.clear()

    async def in_scope(self, tenant: str, database: str) -> list[CollectionSpec]:
        """Every target collection of one tenant/database."""
        return [s for s in await self._target.list_collections()
                if (s.key.tenant, s.key.database) == (tenant, database)]  # fmt: skip

    async def _reload(self) -> None:
        specs = await self._target.list_collections()
        self._by_id = {s.source_id: s for s in specs if s.source_id}
