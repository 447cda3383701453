"""Chroma's ``where`` / ``where_document`` filters: validation and an exact evaluator.

Semantics pinned against a real chromadb 1.5.9 server (tests/reads/test_chroma_filter_*.py):

- ``{"k": v}`` means ``{"k": {"$eq": v}}``. Numbers compare across int and float
  (``1 == 1.0``); bools are not numbers (``True != 1``); strings only equal strings.
- ``$eq``, ``$in`` and the comparisons never match a list-valued field; ``$ne`` and
  ``$nin`` are their exact negations, so they match missing keys, lists and other types.
- ``$contains`` / ``$not_contains`` on metadata test list membership with the SAME type
  (``2`` is in ``[1, 2]``, ``2.0`` is not); ``$contains`` never matches a scalar field.
- ``$and`` / ``$or`` take any number of children; ``$and: []`` is true, ``$or: []`` false.
- ``where_document``: ``$contains`` is a case-sensitive substring test and ``$regex`` a
  search; both are false on a record without a document, and their ``$not_`` forms true.

Chroma bug chroma-core/chroma#7491 (open): against an int-STORED value, a non-integral
float operand is truncated toward zero first (``{"n": {"$lt": 0.5}}`` misses ``n: 0``).
``chroma_bugs=True`` (the default) reproduces it so answers equal the primary's.
"""

from __future__ import annotations

import math
from typing import Any

from adapters.base import Metadata, Record, StoreRejected
from adapters.rust_regex import RegexError, compile_rust_regex

WHERE_ERROR = "Invalid where clause"
WHERE_DOCUMENT_ERROR = "Invalid where document clause"
LOGICAL = ("$and", "$or")
COMPARISONS = ("$gt", "$gte", "$lt", "$lte")
SCALAR_OPS = ("$eq", "$ne", "$contains", "$not_contains")
LIST_OPS = ("$in", "$nin")
DOCUMENT_OPS = ("$contains", "$not_contains", "$regex", "$not_regex")


class InvalidArgument(StoreRejected):
    """A request Chroma refuses with ``InvalidArgumentError`` (HTTP 400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidFilter(InvalidArgument):
    """A malformed ``where`` / ``where_document``."""

    def __init__(self, message: str = WHERE_ERROR) -> None:
        super().__init__(message)


def is_number(value: Any) -> bool:
    """int or float, but not bool (a Python int subclass Chroma keeps apart)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_scalar(value: Any) -> bool:
    return isinstance(value, str | bool) or is_number(value)


def kind(value: Any) -> str:
    """The comparison class of a scalar: 'str', 'bool' or 'num'."""
    if isinstance(value, bool):
        return "bool"
    return "str" if isinstance(value, str) else "num"


# ---------------------------------------------------------------- validation


def _single(clause: Any, message: str) -> tuple[str, Any]:
    if not isinstance(clause, dict) or len(clause) != 1:
        raise InvalidFilter(message)
    ((key, value),) = clause.items()
    return key, value


def validate_where(where: Any) -> None:
    """Raise :class:`InvalidFilter` unless ``where`` is a filter Chroma accepts."""
    key, value = _single(where, WHERE_ERROR)
    if key in LOGICAL:
        if not isinstance(value, list):
            raise InvalidFilter()
        for child in value:
            validate_where(child)
        return
    if key.startswith("$") or key.startswith("#") or key == "":
        raise InvalidFilter()
    if is_scalar(value):
        return
    op, operand = _single(value, WHERE_ERROR)
    _validate_operand(op, operand)


def _validate_operand(op: str, operand: Any) -> None:
    if op in SCALAR_OPS:
        ok = is_scalar(operand)
    elif op in COMPARISONS:
        ok = is_number(operand) and math.isfinite(operand)
    elif op in LIST_OPS:
        ok = (
            isinstance(operand, list)
            and len(operand) > 0
            and all(is_scalar(v) for v in operand)
            # Chroma wants ONE type: [1, 2.5] and [1, True] are both refused.
            and len({type(v) for v in operand}) == 1
        )
    else:
        ok = False
    if not ok:
        raise InvalidFilter()


def validate_where_document(where_document: Any) -> None:
    """Raise :class:`InvalidFilter` unless Chroma accepts ``where_document``."""
    key, value = _single(where_document, WHERE_DOCUMENT_ERROR)
    if key in LOGICAL:
        if not isinstance(value, list):
            raise InvalidFilter(WHERE_DOCUMENT_ERROR)
        for child in value:
            validate_where_document(child)
        return
    if key not in DOCUMENT_OPS or not isinstance(value, str):
        raise InvalidFilter(WHERE_DOCUMENT_ERROR)
    if key in ("$regex", "$not_regex"):
        try:
            compile_rust_regex(value)
        except RegexError as exc:
            raise InvalidFilter(f"Regex syntax errror: {exc}") from exc


# ---------------------------------------------------------------- evaluation


def _num_equal(value: Any, operand: Any, chroma_bugs: bool) -> bool:
    return bool(value == _bound_for(value, operand, chroma_bugs))


def _bound_for(value: Any, operand: Any, chroma_bugs: bool) -> Any:
    """The operand Chroma really compares ``value`` with (see chroma#7491)."""
    if (
        chroma_bugs
        and isinstance(value, int)
        and isinstance(operand, float)
        and not operand.is_integer()
    ):
        return math.trunc(operand)
    return operand


def scalar_equal(value: Any, operand: Any, chroma_bugs: bool = True) -> bool:
    """Chroma's ``$eq`` on one stored value (never true for lists or missing values)."""
    if value is None or isinstance(value, list) or kind(value) != kind(operand):
        return False
    if kind(value) == "num":
        return _num_equal(value, operand, chroma_bugs)
    return bool(value == operand)


def _compare(op: str, value: Any, operand: Any, chroma_bugs: bool) -> bool:
    if not is_number(value):
        return False
    bound = _bound_for(value, operand, chroma_bugs)
    if op == "$gt":
        return bool(value > bound)
    if op == "$gte":
        return bool(value >= bound)
    if op == "$lt":
        return bool(value < bound)
    return bool(value <= bound)


def _list_contains(value: Any, operand: Any) -> bool:
    # Type-strict membership: the element must have the operand's exact type.
    return isinstance(value, list) and any(
        type(e) is type(operand) and e == operand for e in value
    )


def _leaf(op: str, value: Any, operand: Any, chroma_bugs: bool) -> bool:
    if op == "$eq":
        return scalar_equal(value, operand, chroma_bugs)
    if op == "$ne":
        return not scalar_equal(value, operand, chroma_bugs)
    if op in COMPARISONS:
        return _compare(op, value, operand, chroma_bugs)
    if op == "$in":
        return any(scalar_equal(value, o, chroma_bugs) for o in operand)
    if op == "$nin":
        return not any(scalar_equal(value, o, chroma_bugs) for o in operand)
    if op == "$contains":
        return _list_contains(value, operand)
    return not _list_contains(value, operand)


def matches_where(where: Metadata, metadata: Metadata | None, chroma_bugs: bool = True) -> bool:
    """Does a record with ``metadata`` pass the (validated) ``where`` filter?"""
    ((key, value),) = where.items()
    if key == "$and":
        return all(matches_where(c, metadata, chroma_bugs) for c in value)
    if key == "$or":
        return any(matches_where(c, metadata, chroma_bugs) for c in value)
    stored = (metadata or {}).get(key)
    if not isinstance(value, dict):
        return scalar_equal(stored, value, chroma_bugs)
    ((op, operand),) = value.items()
    return _leaf(op, stored, operand, chroma_bugs)


def matches_document(where_document: Metadata, document: str | None) -> bool:
    """Does a record with ``document`` pass the (validated) ``where_document`` filter?"""
    ((key, value),) = where_document.items()
    if key == "$and":
        return all(matches_document(c, document) for c in value)
    if key == "$or":
        return any(matches_document(c, document) for c in value)
    if key == "$contains":
        return document is not None and value in document
    if key == "$not_contains":
        return document is None or value not in document
    found = document is not None and compile_rust_regex(value).search(document) is not None
    return found if key == "$regex" else not found


def matches(
    record: Record,
    where: Metadata | None,
    where_document: Metadata | None,
    chroma_bugs: bool = True,
) -> bool:
    """Both filters on one record (an absent filter passes everything)."""
    if where is not None and not matches_where(where, record.metadata, chroma_bugs):
        return False
    return where_document is None or matches_document(where_document, record.document)
