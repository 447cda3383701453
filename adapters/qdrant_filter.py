"""Chroma ``where`` -> a Qdrant filter over the layout of :mod:`adapters.qdrant_layout`.

:func:`plan_where` produces the engine-neutral form of :mod:`adapters.point_filter`;
each engine renders that (:func:`translate_where` gives qdrant-client models, for
callers that hold a ``QdrantClient``).

The translation selects EXACTLY the right points, or a SUPERSET of them and says so
(``exact=False``): the caller then post-filters with :mod:`adapters.chroma_filter`.
Negations (``$ne``, ``$nin``, ``$not_contains``) are only translated when their inner
condition is exact, because ``NOT superset`` would be a subset.

Qdrant traps handled here (pinned in tests/reads/test_qdrant_filter_*.py):
- ``match`` on a list payload matches any element, but Chroma's ``$eq``/``$in``/ranges
  never match lists: such conditions also require the key NOT to be in ``list_keys``;
  ``$contains`` requires it to BE there (Chroma's ``$contains`` skips scalars).
- ``match`` cannot test floats and an integer ``match`` skips float payloads (``1`` vs
  ``1.0``): numbers use ``range`` gte=lte, which compares across int and float like
  Chroma and never matches bools.
- A float ``$contains`` has no typed twin (range also hits ``[1, 2]`` for ``2.0``): superset.
- chroma#7491 (with ``chroma_bugs``): non-integral float operands widen ranges: superset.
- ``where_document`` has no exact twin anywhere (Qdrant text match is tokenised): always
  post-filtered, never translated.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from qdrant_client import models

from adapters import point_filter as pf
from adapters.base import Metadata
from adapters.chroma_filter import is_number
from adapters.qdrant_client_points import render_filter
from adapters.qdrant_layout import LIST_KEYS_FIELD, METADATA_FIELD

# None = no constraint (matches every point).
Cond = pf.Condition | None
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_]+$")


@dataclass(frozen=True)
class WherePlan:
    """The neutral filter (None: no filter) and whether it is exact (else post-filter)."""

    filter: pf.Clause | None
    exact: bool


@dataclass(frozen=True)
class Translation:
    """A qdrant-client filter (None: no filter) and whether it is exact (else post-filter)."""

    filter: models.Filter | None
    exact: bool


def plan_where(where: Metadata | None, chroma_bugs: bool = True) -> WherePlan:
    """Translate a VALIDATED Chroma ``where`` (see :func:`chroma_filter.validate_where`)."""
    if where is None:
        return WherePlan(None, True)
    cond, exact = _node(where, chroma_bugs)
    if cond is None:
        return WherePlan(None, exact)
    return WherePlan(pf.Clause(must=(cond,)), exact)


def translate_where(where: Metadata | None, chroma_bugs: bool = True) -> Translation:
    """:func:`plan_where`, rendered as qdrant-client models."""
    plan = plan_where(where, chroma_bugs)
    return Translation(None if plan.filter is None else render_filter(plan.filter), plan.exact)


def _node(where: Metadata, bugs: bool) -> tuple[Cond, bool]:
    ((key, value),) = where.items()
    if key in ("$and", "$or"):
        parts = [_node(child, bugs) for child in value]
        exact = all(e for _, e in parts)
        conds = [c for c, _ in parts]
        if key == "$and":
            kept = tuple(c for c in conds if c is not None)
            return (pf.Clause(must=kept) if kept else None), exact
        if not conds:
            return pf.NOTHING, True
        if any(c is None for c in conds):
            return None, exact
        return pf.Clause(should=tuple(c for c in conds if c is not None)), exact
    path = _path(key)
    if path is None:
        return None, False  # a key Qdrant paths cannot spell: post-filter it
    if not isinstance(value, dict):
        return _leaf("$eq", key, path, value, bugs)
    ((op, operand),) = value.items()
    return _leaf(op, key, path, operand, bugs)


def _path(key: str) -> str | None:
    if _PLAIN_KEY.match(key):
        return f"{METADATA_FIELD}.{key}"
    if '"' in key or "\\" in key:
        return None
    return f'{METADATA_FIELD}."{key}"'


def _negate(cond: Cond, exact: bool) -> tuple[Cond, bool]:
    if not exact:
        return None, False
    if cond is None:
        return pf.NOTHING, True
    return pf.Clause(must_not=(cond,)), True


def _leaf(op: str, key: str, path: str, operand: Any, bugs: bool) -> tuple[Cond, bool]:
    if op in ("$ne", "$nin", "$not_contains"):
        positive = {"$ne": "$eq", "$nin": "$in", "$not_contains": "$contains"}[op]
        return _negate(*_leaf(positive, key, path, operand, bugs))
    if op == "$contains":
        return _contains(key, path, operand)
    values = operand if op == "$in" else [operand]
    if op in ("$eq", "$in"):
        cond, exact = _equal_any(path, values, bugs)
    else:
        cond, exact = _range(op, path, operand, bugs)
    return pf.Clause(must=(cond,), must_not=(_is_list(key),)), exact


def _is_list(key: str) -> pf.Match:
    return pf.Match(path=LIST_KEYS_FIELD, value=key)


def _contains(key: str, path: str, operand: Any) -> tuple[Cond, bool]:
    element: pf.Condition
    if isinstance(operand, float):
        element = _num_eq(path, operand)
        exact = False  # 2.0 also hits int lists holding 2
    else:
        element = pf.Match(path=path, value=operand)
        exact = True
    return pf.Clause(must=(element, _is_list(key))), exact


def _num_eq(path: str, value: float) -> pf.Range:
    return pf.Range(path=path, gte=value, lte=value)


def _widened(operand: Any, bugs: bool) -> list[Any]:
    """The operands Chroma may really use (chroma#7491 truncates them for int values)."""
    if bugs and isinstance(operand, float) and not operand.is_integer():
        return [operand, math.trunc(operand)]
    return [operand]


def _exact_float(value: Any) -> bool:
    """Qdrant ranges take floats: ints beyond 2**53 would be rounded."""
    return not isinstance(value, int) or abs(value) <= 2**53


def _either(conds: list[pf.Condition]) -> pf.Condition:
    return conds[0] if len(conds) == 1 else pf.Clause(should=tuple(conds))


def _equal_any(path: str, values: list[Any], bugs: bool) -> tuple[pf.Condition, bool]:
    if not is_number(values[0]):
        if len(values) > 1 and isinstance(values[0], str):
            return pf.MatchAny(path=path, values=tuple(values)), True
        return _either([pf.Match(path=path, value=v) for v in values]), True
    widened = [w for v in values for w in _widened(v, bugs)]
    exact = len(widened) == len(values) and all(_exact_float(v) for v in values)
    return _either([_num_eq(path, float(v)) for v in widened]), exact


def _range(op: str, path: str, operand: Any, bugs: bool) -> tuple[pf.Condition, bool]:
    widened = _widened(operand, bugs)
    if len(widened) == 1:
        bound = float(operand)
        rng = {
            "$gt": pf.Range(path=path, gt=bound),
            "$gte": pf.Range(path=path, gte=bound),
            "$lt": pf.Range(path=path, lt=bound),
            "$lte": pf.Range(path=path, lte=bound),
        }[op]
        return rng, _exact_float(operand)
    # Superset of both readings: inclusive bound at the looser of the two.
    if op in ("$gt", "$gte"):
        return pf.Range(path=path, gte=float(min(widened))), False
    return pf.Range(path=path, lte=float(max(widened))), False
