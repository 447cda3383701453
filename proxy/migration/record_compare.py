"""Comparing one record in the source with its copy in the target.

Vectors: element-wise within an absolute tolerance (1e-6 by default), after
normalising both in cosine collections (Qdrant keeps cosine vectors normalised).
Metadata: exact, except floats, which match within a relative tolerance of 1e-9:
Chroma does not return some float metadata bit-exactly (98.66666666666667 reads back
as 98.66666666666669, chroma-core/chroma#7594). Types are kept apart (True != 1).
Empty metadata ``{}`` and ``None`` are the same thing (Chroma has both spellings).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from adapters.base import Record, Space, Vector

FLOAT_REL_TOLERANCE = 1e-9


def _value_equal(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or math.isclose(a, b, rel_tol=FLOAT_REL_TOLERANCE, abs_tol=0.0)
    if isinstance(a, list):
        return len(a) == len(b) and all(_value_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def metadata_equal(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Same keys, same values (floats within 1e-9 relative)."""
    a, b = a or {}, b or {}
    return a.keys() == b.keys() and all(_value_equal(a[k], b[k]) for k in a)


def _unit(vector: Vector) -> Vector:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def vectors_equal(a: Vector | None, b: Vector | None, space: Space, tolerance: float) -> bool:
    """Within ``tolerance`` element-wise (normalised first in cosine collections)."""
    if a is None or b is None:
        return a is None and b is None
    if a.shape != b.shape:
        return False
    if space is Space.COSINE:
        a, b = _unit(a), _unit(b)
    return bool(np.allclose(a, b, rtol=0.0, atol=tolerance))


def differences(source: Record, target: Record, space: Space, tolerance: float) -> list[str]:
    """Names of the fields that differ: vector, metadata, document, uri (empty: same)."""
    fields = []
    if not vectors_equal(source.embedding, target.embedding, space, tolerance):
        fields.append("vector")
    if not metadata_equal(source.metadata, target.metadata):
        fields.append("metadata")
    if source.document != target.document:
        fields.append("document")
    if source.uri != target.uri:
        fields.append("uri")
    return fields
