"""The catalog of vecbridge collections inside Qdrant, and physical collection plumbing.

Synchronous on purpose, over any engine's :class:`~adapters.qdrant_points.Points`: every
method runs on the owning store's worker thread. Layout rules: :mod:`adapters.qdrant_layout`.
"""

from __future__ import annotations

from adapters import qdrant_layout as layout
from adapters.base import CollectionKey, CollectionMissing, CollectionSpec
from adapters.chroma_order import SEQ_FIELD
from adapters.qdrant_points import PointData, Points

COPY_PAGE = 256
#: payload indexes of every record collection: chroma_id lookups, and ``order_by`` over
#: Chroma's row order (chroma_order.py) needs an integer index
RECORD_INDEXES = ((layout.ID_FIELD, "keyword"), (SEQ_FIELD, "integer"))


class QdrantCatalog:
    """Specs of collections (one point each in ``vecbridge~catalog``) and their collections."""

    def __init__(self) -> None:
        self._ready = False

    def _ensure(self, p: Points) -> None:
        if self._ready:
            return
        if not p.collection_exists(layout.CATALOG_COLLECTION):
            # vector size 1: Qdrant needs one, the catalog only uses payloads
            p.create_collection(layout.CATALOG_COLLECTION, 1, "Dot")
        self._ready = True

    def read(self, p: Points, key: CollectionKey) -> CollectionSpec | None:
        """The recorded spec of ``key``, or None."""
        self._ensure(p)
        found = p.retrieve(layout.CATALOG_COLLECTION, [layout.catalog_point_id(key)])
        if not found or found[0].payload is None:
            return None
        return layout.spec_from_catalog(found[0].payload)

    def require(self, p: Points, key: CollectionKey) -> CollectionSpec:
        """The recorded spec of ``key``; CollectionMissing when there is none."""
        spec = self.read(p, key)
        if spec is None:
            raise CollectionMissing(f"collection {key} does not exist")
        return spec

    def write(self, p: Points, spec: CollectionSpec) -> None:
        """Record (or overwrite) ``spec``."""
        self._ensure(p)
        point = PointData(layout.catalog_point_id(spec.key), [1.0], layout.catalog_payload(spec))
        p.upsert(layout.CATALOG_COLLECTION, [point])

    def remove(self, p: Points, key: CollectionKey) -> None:
        """Drop the physical collection and the catalog entry of ``key`` (if present)."""
        self._ensure(p)
        p.drop_collection(layout.collection_name(key))
        p.delete(layout.CATALOG_COLLECTION, [layout.catalog_point_id(key)])

    def all(self, p: Points) -> list[CollectionSpec]:
        """Every recorded spec, ordered by key."""
        self._ensure(p)
        specs: list[CollectionSpec] = []
        offset: str | None = None
        while True:
            points, offset = p.scroll(layout.CATALOG_COLLECTION, COPY_PAGE, offset)
            specs.extend(layout.spec_from_catalog(q.payload) for q in points if q.payload)
            if offset is None:
                return sorted(specs, key=lambda s: s.key)

    def ensure_physical(self, p: Points, spec: CollectionSpec) -> None:
        """Create the physical collection of ``spec`` (dimension known) if it is missing."""
        assert spec.dimension is not None
        name = layout.collection_name(spec.key)
        if not p.collection_exists(name):
            distance = layout.DISTANCE_BY_SPACE[spec.space]
            p.create_collection(name, spec.dimension, distance, RECORD_INDEXES)


def copy_points(p: Points, source: str, target: str) -> None:
    """Copy every point of ``source`` into ``target`` (same ids, vectors, payloads)."""
    if not p.collection_exists(source):
        return
    offset: str | None = None
    while True:
        points, offset = p.scroll(source, COPY_PAGE, offset, with_vector=True)
        batch = [PointData(str(q.id), q.vector, q.payload or {}) for q in points]
        if batch:
            p.upsert(target, batch)
        if offset is None:
            return
