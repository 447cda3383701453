"""The one interface every vector store is driven through.

The proxy core never talks to an engine directly: it speaks in the engine-neutral
values below (``CollectionKey``, ``CollectionSpec``, ``Record``) and calls a
``VectorStore``. Engine quirks (id rules, distance formulas, filter languages)
live in the engine's own module next to this one.

Error hierarchy (raise these from adapters; translate engine errors at the boundary)::

    StoreError
    ├── StoreUnavailable      transient: connection refused, timeout, 5xx, 429 -> retry
    └── StoreRejected         permanent: the store refuses this change -> dead letter
        └── CollectionMissing the named collection does not exist
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Metadata = dict[str, Any]
Vector = npt.NDArray[np.float32]

DEFAULT_TENANT = "default_tenant"
DEFAULT_DATABASE = "default_database"


class StoreError(Exception):
    """Base of every error an adapter raises."""


class StoreUnavailable(StoreError):
    """The store could not be reached or answered with a transient failure: retry later."""


class StoreRejected(StoreError):
    """The store refused the operation for good (bad input, conflict): do not retry."""


class CollectionMissing(StoreRejected):
    """The collection named in the operation does not exist in the store."""


class Space(StrEnum):
    """Distance function of a collection, in Chroma's vocabulary."""

    L2 = "l2"
    COSINE = "cosine"
    IP = "ip"


@dataclass(frozen=True, order=True)
class CollectionKey:
    """Where a collection lives, engine-neutral: Chroma's tenant / database / name."""

    name: str
    tenant: str = DEFAULT_TENANT
    database: str = DEFAULT_DATABASE

    def __str__(self) -> str:
        if self.tenant == DEFAULT_TENANT and self.database == DEFAULT_DATABASE:
            return self.name
        return f"{self.tenant}/{self.database}/{self.name}"


@dataclass(frozen=True)
class CollectionSpec:
    """Everything needed to (re)create a collection in any store.

    ``source_id`` is the collection's id in the source store (Chroma's UUID), kept so a
    store that answers in the source's dialect can give the same id back.
    ``dimension`` is None until the first record arrives (Chroma creates collections
    without one).
    ``source_object`` is the collection object as the source's API last described it
    (Chroma's collection JSON, captured at its last collection write or copy), kept so
    collection reads can be answered in the source's dialect; the fields above win
    over its copies of them. None when unknown (older specs, non-Chroma sources). It is
    not part of a spec's identity: two specs differing only there compare equal.
    """

    key: CollectionKey
    space: Space = Space.L2
    dimension: int | None = None
    metadata: Metadata | None = None
    configuration: Metadata | None = None
    source_id: str | None = None
    source_object: Metadata | None = field(default=None, compare=False, repr=False)

    def with_dimension(self, dimension: int) -> CollectionSpec:
        return replace(self, dimension=dimension)


@dataclass(frozen=True, eq=False)
class Record:
    """One stored item: id, vector, metadata, document, uri (any of the last four may be None)."""

    id: str
    embedding: Vector | None = None
    metadata: Metadata | None = None
    document: str | None = None
    uri: str | None = None

    def same_as(self, other: Record, tolerance: float = 0.0) -> bool:
        """Field-by-field equality; vectors compared element-wise within ``tolerance``."""
        if (self.id, self.metadata, self.document, self.uri) != (
            other.id,
            other.metadata,
            other.document,
            other.uri,
        ):
            return False
        if self.embedding is None or other.embedding is None:
            return self.embedding is None and other.embedding is None
        if self.embedding.shape != other.embedding.shape:
            return False
        return bool(np.allclose(self.embedding, other.embedding, rtol=0.0, atol=tolerance))


@dataclass(frozen=True)
class Page:
    """One page of a scroll. ``next_cursor`` is None on the last page."""

    records: list[Record]
    next_cursor: str | None


@dataclass(frozen=True)
class Hit:
    """One nearest-neighbour result; ``distance`` is in Chroma's convention (smaller is closer)."""

    record: Record
    distance: float


@dataclass(frozen=True)
class QueryRequest:
    """A nearest-neighbour search, engine-neutral.

    ``where`` / ``where_document`` are Chroma filter documents, passed through as-is;
    each adapter translates them (or post-filters) for its engine.
    """

    vectors: Sequence[Vector]
    k: int = 10
    where: Metadata | None = None
    where_document: Metadata | None = None
    ids: Sequence[str] | None = None
    with_embeddings: bool = False
    exact: bool = False


@dataclass(frozen=True)
class GetRequest:
    """A filtered fetch, engine-neutral (Chroma's ``get``)."""

    ids: Sequence[str] | None = None
    where: Metadata | None = None
    where_document: Metadata | None = None
    limit: int | None = None
    offset: int = 0
    with_embeddings: bool = False


@runtime_checkable
class VectorStore(Protocol):
    """What the proxy, the applier, backfill and validation need from any engine.

    Every write is idempotent: applying the same call twice leaves the same state,
    which is what makes at-least-once journal delivery safe.
    """

    async def create_collection(self, spec: CollectionSpec) -> None:
        """Create the collection if it does not exist; keep it untouched if it does."""

    async def describe_collection(self, key: CollectionKey) -> CollectionSpec | None:
        """The collection's spec, or None when it does not exist."""

    async def list_collections(self) -> list[CollectionSpec]:
        """Every collection the store holds (in every tenant and database)."""

    async def modify_collection(self, old: CollectionKey, spec: CollectionSpec) -> None:
        """Rename (``spec.key`` differs from ``old``) and/or replace collection metadata."""

    async def delete_collection(self, key: CollectionKey) -> None:
        """Drop the collection and everything in it; no error when it is already gone."""

    async def upsert(self, spec: CollectionSpec, records: Sequence[Record]) -> None:
        """Store full record images, replacing whatever had the same ids.

        Creates the collection from ``spec`` first when it does not exist yet.
        """

    async def delete(self, key: CollectionKey, ids: Sequence[str]) -> None:
        """Remove records by id; ids that do not exist are ignored."""

    async def get(self, key: CollectionKey, ids: Sequence[str]) -> list[Record]:
        """Full records for the ids that exist (embeddings included), in the order asked."""

    async def scroll(self, key: CollectionKey, cursor: str | None, limit: int) -> Page:
        """A page of full records in a stable order; pass ``next_cursor`` back to go on."""

    async def count(self, key: CollectionKey) -> int:
        """Number of records in the collection."""

    async def query(self, key: CollectionKey, request: QueryRequest) -> list[list[Hit]]:
        """Nearest neighbours for each query vector, closest first, Chroma distances."""

    async def close(self) -> None:
        """Release connections, files and locks."""
