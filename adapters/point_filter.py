"""The engine-neutral filter form: what a Qdrant filter selects, as plain values.

:mod:`adapters.qdrant_filter` translates Chroma's ``where`` into this form once; each
engine renders it into its own classes (qdrant-client models in
:mod:`adapters.qdrant_client_points`, Qdrant Edge classes in
:mod:`adapters.qdrant_edge_points`). The form mirrors Qdrant's REST filter, so a
renderer is a one-to-one walk and both engines apply the same Qdrant semantics.

::

    Clause(must, should, must_not)   every must, at least one should (when any), no must_not
    Match(path, value)               the payload value at ``path`` (or one element) == value
    MatchAny(path, values)           ... is one of ``values`` (strings)
    Range(path, gt, gte, lt, lte)    ... is a number within the bounds (never a bool)
    HasId(ids)                       the point id is one of ``ids`` (none: matches nothing)
    IsEmpty(path)                    ``path`` is missing, null or []

An empty ``must`` / ``should`` / ``must_not`` is "not given" (renderers leave it out).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Match:
    """The value at ``path`` (or any element of a list there) equals ``value``."""

    path: str
    value: str | int | bool


@dataclass(frozen=True)
class MatchAny:
    """The value at ``path`` (or any element of a list there) is one of ``values``."""

    path: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Range:
    """The number at ``path`` (or any element of a list there) lies within the bounds."""

    path: str
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None


@dataclass(frozen=True)
class HasId:
    """The point id is one of ``ids`` (Qdrant point ids, as strings)."""

    ids: tuple[str, ...]


@dataclass(frozen=True)
class IsEmpty:
    """``path`` is missing, null or an empty list."""

    path: str


@dataclass(frozen=True)
class Clause:
    """A boolean combination, Qdrant's ``Filter``."""

    must: tuple[Condition, ...] = ()
    should: tuple[Condition, ...] = ()
    must_not: tuple[Condition, ...] = ()


Condition = Match | MatchAny | Range | HasId | IsEmpty | Clause

#: matches no point at all
NOTHING: Condition = HasId(ids=())


def all_of(*conditions: Condition | None) -> Clause | None:
    """A clause requiring every given condition (None when none is given)."""
    kept = tuple(c for c in conditions if c is not None)
    return Clause(must=kept) if kept else None
