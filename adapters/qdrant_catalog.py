"""The catalog of vecbridge collections inside Qdrant, and physical collection plumbing.

Synchronous on purpose: every method runs on ``QdrantStore``'s worker thread (call them
inside a function given to ``QdrantStore.run``). Layout rules: :mod:`adapters.qdrant_layout`.
"""

from __future__ import annotations

from typing import Any, cast

from qdrant_client import QdrantClient
from qdrant_client.http import models as qm
from qdrant_client.local.qdrant_local import QdrantLocal

from adapters import qdrant_layout as layout
from adapters.base import CollectionKey, CollectionMissing, CollectionSpec
from adapters.chroma_order import SEQ_FIELD

DISTANCE = {space: qm.Distance(name) for space, name in layout.DISTANCE_BY_SPACE.items()}
COPY_PAGE = 256


def is_local(client: QdrantClient) -> bool:
    """True for an embedded (local mode) client."""
    return isinstance(getattr(client, "_client", None), QdrantLocal)


class QdrantCatalog:
    """Specs of collections (one point each in ``vecbridge~catalog``) and their collections."""

    def __init__(self, local: bool) -> None:
        self._local = local
        self._ready = False

    def _ensure(self, c: QdrantClient) -> None:
        if self._ready:
            return
        if not c.collection_exists(layout.CATALOG_COLLECTION):
            # vector size 1: Qdrant needs one, the catalog only uses payloads
            params = qm.VectorParams(size=1, distance=qm.Distance.DOT)
            c.create_collection(layout.CATALOG_COLLECTION, vectors_config=params)
        self._ready = True

    def read(self, c: QdrantClient, key: CollectionKey) -> CollectionSpec | None:
        """The recorded spec of ``key``, or None."""
        self._ensure(c)
        found = c.retrieve(layout.CATALOG_COLLECTION, [layout.catalog_point_id(key)])
        if not found or found[0].payload is None:
            return None
        return layout.spec_from_catalog(found[0].payload)

    def require(self, c: QdrantClient, key: CollectionKey) -> CollectionSpec:
        """The recorded spec of ``key``; CollectionMissing when there is none."""
        spec = self.read(c, key)
        if spec is None:
            raise CollectionMissing(f"collection {key} does not exist")
        return spec

    def write(self, c: QdrantClient, spec: CollectionSpec) -> None:
        """Record (or overwrite) ``spec``."""
        self._ensure(c)
        point = qm.PointStruct(
            id=layout.catalog_point_id(spec.key), vector=[1.0],
            payload=layout.catalog_payload(spec),
        )
        c.upsert(layout.CATALOG_COLLECTION, [point], wait=True)

    def remove(self, c: QdrantClient, key: CollectionKey) -> None:
        """Drop the physical collection and the catalog entry of ``key`` (if present)."""
        self._ensure(c)
        name = layout.collection_name(key)
        if c.collection_exists(name):
            c.delete_collection(name)
        selector = qm.PointIdsList(points=[layout.catalog_point_id(key)])
        c.delete(layout.CATALOG_COLLECTION, selector, wait=True)

    def all(self, c: QdrantClient) -> list[CollectionSpec]:
        """Every recorded spec, ordered by key."""
        self._ensure(c)
        specs: list[CollectionSpec] = []
        offset: Any = None
        while True:
            points, offset = c.scroll(layout.CATALOG_COLLECTION, limit=COPY_PAGE, offset=offset)
            specs.extend(layout.spec_from_catalog(p.payload) for p in points if p.payload)
            if offset is None:
                return sorted(specs, key=lambda s: s.key)

    def ensure_physical(self, c: QdrantClient, spec: CollectionSpec) -> None:
        """Create the physical collection of ``spec`` (dimension known) if it is missing."""
        assert spec.dimension is not None
        name = layout.collection_name(spec.key)
        if c.collection_exists(name):
            return
        params = qm.VectorParams(size=spec.dimension, distance=DISTANCE[spec.space])
        c.create_collection(name, vectors_config=params)
        if not self._local:  # local mode ignores payload indexes and warns about them
            c.create_payload_index(name, layout.ID_FIELD, qm.PayloadSchemaType.KEYWORD)
            # order_by (Chroma's row order, see chroma_order.py) needs an integer index
            c.create_payload_index(name, SEQ_FIELD, qm.PayloadSchemaType.INTEGER)


def copy_points(c: QdrantClient, source: str, target: str) -> None:
    """Copy every point of ``source`` into ``target`` (same ids, vectors, payloads)."""
    if not c.collection_exists(source):
        return
    offset: Any = None
    while True:
        points, offset = c.scroll(
            source, limit=COPY_PAGE, offset=offset, with_payload=True, with_vectors=True
        )
        batch = [qm.PointStruct(id=p.id, vector=cast(Any, p.vector), payload=p.payload)
                 for p in points]
        if batch:
            c.upsert(target, batch, wait=True)
        if offset is None:
            return
