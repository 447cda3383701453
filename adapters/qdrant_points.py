"""The one interface to a Qdrant engine: named collections of points, synchronous.

Everything laid out per :mod:`adapters.qdrant_layout` (the catalog, the stores in
:mod:`adapters.qdrant_points_store`, the Chroma-semantics reads in
:mod:`adapters.qdrant_reads`) is written once against :class:`Points`; each engine
implements it:

    ClientPoints   qdrant-client: a server by URL, or local mode  (qdrant_client_points.py)
    EdgePoints     Qdrant Edge: one EdgeShard per collection       (qdrant_edge_points.py)

Filters are the neutral form of :mod:`adapters.point_filter`; each implementation
renders them. Point ids are Qdrant's (uuid strings); cursors are opaque strings. Calls
block: run them on the owning store's worker threads, never on the event loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from adapters.point_filter import Clause


@dataclass(frozen=True)
class Only:
    """Return just these payload keys."""

    keys: tuple[str, ...]


@dataclass(frozen=True)
class AllBut:
    """Return the payload without these keys."""

    keys: tuple[str, ...]


#: which payload a read returns: all (True), none (False), or a selection
PayloadSelection = bool | Only | AllBut


@dataclass(frozen=True)
class PointData:
    """A point to write: Qdrant id, vector, payload."""

    id: str
    vector: list[float]
    payload: dict[str, Any]


@dataclass(frozen=True)
class Search:
    """One nearest-neighbour search. ``exact`` asks for a full scan instead of the index."""

    vector: list[float]
    limit: int
    filter: Clause | None = None
    offset: int = 0
    score_threshold: float | None = None
    with_payload: PayloadSelection = True
    with_vector: bool = False
    exact: bool = False


class StoredPoint(Protocol):
    """A point as an engine returns it (both engines' classes fit)."""

    @property
    def id(self) -> Any: ...

    @property
    def payload(self) -> dict[str, Any] | None: ...

    @property
    def vector(self) -> Any: ...


class ScoredPoint(StoredPoint, Protocol):
    """A search hit: the point and Qdrant's score (a distance for Euclid, else similarity)."""

    @property
    def score(self) -> float: ...


class Points(Protocol):
    """Named collections of points in one Qdrant engine."""

    def collection_exists(self, name: str) -> bool:
        """True when the collection exists."""

    def create_collection(
        self, name: str, size: int, distance: str, indexes: Sequence[tuple[str, str]] = ()
    ) -> None:
        """Create it (``distance``: Euclid, Cosine, Dot) with payload indexes
        (field, ``keyword`` | ``integer``) where the engine keeps them."""

    def drop_collection(self, name: str) -> None:
        """Drop it with every point; no error when it is missing."""

    def upsert(self, name: str, points: Sequence[PointData]) -> None:
        """Write whole points; applied (visible to reads) when this returns."""

    def delete(self, name: str, ids: Sequence[str]) -> None:
        """Delete points by id; missing ids are ignored."""

    def retrieve(
        self, name: str, ids: Sequence[str], with_payload: PayloadSelection = True,
        with_vector: bool = False,
    ) -> list[StoredPoint]:
        """The points with these ids that exist, in no particular order."""

    def scroll(
        self, name: str, limit: int, offset: str | None = None, filter: Clause | None = None,
        with_payload: PayloadSelection = True, with_vector: bool = False,
    ) -> tuple[list[StoredPoint], str | None]:
        """A page in point-id order from ``offset``, and the next page's offset (None: end)."""

    def scroll_ordered(
        self, name: str, key: str, limit: int, start_from: int | None = None,
        filter: Clause | None = None, with_payload: PayloadSelection = True,
        with_vector: bool = False,
    ) -> list[StoredPoint]:
        """Up to ``limit`` points by ascending integer payload ``key`` from ``start_from``
        (points lacking the key are skipped)."""

    def count(self, name: str, filter: Clause | None = None) -> int:
        """Exact number of points passing ``filter``."""

    def search(self, name: str, searches: Sequence[Search]) -> list[list[ScoredPoint]]:
        """The hits of each search, best first."""
