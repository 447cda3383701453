"""An in-memory ``VectorStore`` for unit tests: dicts, brute-force search, Chroma distances.

Behaves like the real adapters on everything the protocol promises (full-image upserts,
idempotent deletes, ordered scrolls, exact nearest neighbours) and nothing more: no
``where`` / ``where_document`` filtering, which it rejects like ``QdrantStore`` does.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from adapters.base import (
    CollectionKey,
    CollectionMissing,
    CollectionSpec,
    Hit,
    Page,
    QueryRequest,
    Record,
    Space,
    StoreRejected,
    Vector,
)


def chroma_distance(space: Space, query: Vector, vectors: Vector) -> Vector:
    """Chroma's distance between ``query`` and each row of ``vectors``."""
    q = np.asarray(query, dtype=np.float64)
    m = np.asarray(vectors, dtype=np.float64)
    if space is Space.L2:
        return np.asarray(((m - q) ** 2).sum(axis=1), dtype=np.float32)
    if space is Space.IP:
        return np.asarray(1.0 - m @ q, dtype=np.float32)
    norms = np.linalg.norm(m, axis=1) * np.linalg.norm(q)
    return np.asarray(1.0 - (m @ q) / np.where(norms == 0.0, 1.0, norms), dtype=np.float32)


def _copy(record: Record) -> Record:
    embedding = None if record.embedding is None else record.embedding.astype(np.float32)
    return Record(record.id, embedding, copy.deepcopy(record.metadata), record.document,
                  record.uri)


class MemoryStore:
    """A ``VectorStore`` held in dicts; records kept in first-insertion order."""

    def __init__(self) -> None:
        self._specs: dict[CollectionKey, CollectionSpec] = {}
        self._rows: dict[CollectionKey, dict[str, Record]] = {}

    def _require(self, key: CollectionKey) -> dict[str, Record]:
        if key not in self._rows:
            raise CollectionMissing(f"collection {key} does not exist")
        return self._rows[key]

    async def create_collection(self, spec: CollectionSpec) -> None:
        """Create the collection unless it exists; learn a dimension it lacked."""
        current = self._specs.get(spec.key)
        if current is None:
            self._specs[spec.key] = spec
            self._rows[spec.key] = {}
        elif current.dimension is None and spec.dimension is not None:
            self._specs[spec.key] = current.with_dimension(spec.dimension)

    async def describe_collection(self, key: CollectionKey) -> CollectionSpec | None:
        """The spec of ``key`` or None."""
        return self._specs.get(key)

    async def list_collections(self) -> list[CollectionSpec]:
        """Every collection, ordered by key."""
        return [self._specs[k] for k in sorted(self._specs)]

    async def modify_collection(self, old: CollectionKey, spec: CollectionSpec) -> None:
        """Rename and/or replace metadata; space and dimension are kept."""
        current = self._specs.get(old)
        if current is None:
            raise CollectionMissing(f"collection {old} does not exist")
        if spec.key != old and spec.key in self._specs:
            raise StoreRejected(f"collection {spec.key} already exists")
        rows = self._rows.pop(old)
        del self._specs[old]
        self._specs[spec.key] = replace(current, key=spec.key, metadata=spec.metadata)
        self._rows[spec.key] = rows

    async def delete_collection(self, key: CollectionKey) -> None:
        """Drop the collection if it exists."""
        self._specs.pop(key, None)
        self._rows.pop(key, None)

    async def upsert(self, spec: CollectionSpec, records: Sequence[Record]) -> None:
        """Store full images; the first vector fixes an unknown dimension."""
        if not records:
            return
        await self.create_collection(spec)
        current = self._specs[spec.key]
        for record in records:
            if record.embedding is None:
                raise StoreRejected(f"record {record.id!r} has no embedding")
        dimension = current.dimension or len(records[0].embedding)  # type: ignore[arg-type]
        for record in records:
            if len(record.embedding) != dimension:  # type: ignore[arg-type]
                raise StoreRejected(f"record {record.id!r}: dimension != {dimension}")
        self._specs[spec.key] = current.with_dimension(dimension)
        rows = self._rows[spec.key]
        for record in records:
            rows[record.id] = _copy(record)

    async def delete(self, key: CollectionKey, ids: Sequence[str]) -> None:
        """Remove the ids that exist."""
        rows = self._rows.get(key, {})
        for i in ids:
            rows.pop(i, None)

    async def get(self, key: CollectionKey, ids: Sequence[str]) -> list[Record]:
        """Found records, in the order asked, each once."""
        rows = self._require(key)
        return [_copy(rows[i]) for i in dict.fromkeys(ids) if i in rows]

    async def scroll(self, key: CollectionKey, cursor: str | None, limit: int) -> Page:
        """Pages in insertion order; the cursor is an offset (not safe under deletes)."""
        records = list(self._require(key).values())
        start = int(cursor) if cursor else 0
        end = start + limit
        page = [_copy(r) for r in records[start:end]]
        return Page(records=page, next_cursor=str(end) if end < len(records) else None)

    async def count(self, key: CollectionKey) -> int:
        """Number of records."""
        return len(self._require(key))

    async def query(self, key: CollectionKey, request: QueryRequest) -> list[list[Hit]]:
        """Exact nearest neighbours with Chroma's distance formulas."""
        if request.where or request.where_document:
            raise StoreRejected("MemoryStore.query does not evaluate where/where_document")
        rows = self._require(key)
        allowed = None if request.ids is None else set(request.ids)
        candidates = [r for r in rows.values() if allowed is None or r.id in allowed]
        if not candidates:
            return [[] for _ in request.vectors]
        space = self._specs[key].space
        matrix = np.stack([r.embedding for r in candidates])  # type: ignore[misc]
        answers: list[list[Hit]] = []
        for vector in request.vectors:
            distances = chroma_distance(space, vector, matrix)
            order = np.argsort(distances, kind="stable")[: request.k]
            answers.append([self._hit(candidates[i], float(distances[i]), request)
                            for i in order])
        return answers

    @staticmethod
    def _hit(record: Record, distance: float, request: QueryRequest) -> Hit:
        found = _copy(record)
        if not request.with_embeddings:
            found = replace(found, embedding=None)
        return Hit(record=found, distance=distance)

    async def close(self) -> None:
        """Nothing to release."""
