"""Comparing two Chroma-format answers to the same read: recall, rank, distances, category.

Pure functions over the JSON bodies both stores gave (the old store's answer is the
reference, whichever side served the app). The category is the most serious
difference found, in this order: ``error`` (statuses differ or a body is unreadable),
``missing_ids`` (reference rows absent), ``extra_ids`` (rows the reference lacks),
``order`` (same rows, different order, beyond ties at equal distance), ``distance``,
``metadata`` (metadata, document, uri or embedding of a shared row), else ``match``.

Collection-level reads compare collection objects: ``count_collections`` like ``count``;
``get_collection`` and ``list_collections`` by collection id (a reference collection
absent from the other answer is ``missing_ids``, one only there ``extra_ids``, the
same collections listed in another order ``order``) and then by content (name,
metadata, configuration, schema, dimension, scope: any difference is ``metadata``).
``log_position`` and ``version`` are not compared: internal counters of Chroma's log
that the new store renders as single-node Chroma does (always 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

CATEGORIES = (
    "match", "missing_ids", "extra_ids", "order", "distance", "metadata", "error", "timeout",
)  # fmt: skip
# Most serious first: the category of a comparison is the first one found in this order.
SEVERITY = ("error", "timeout", "missing_ids", "extra_ids", "order", "distance", "metadata")
DISTANCE_TOLERANCE = 1e-4
EMBEDDING_TOLERANCE = 1e-5
IDS_KEPT = 5
_CONTENT = ("metadatas", "documents", "uris", "embeddings")
_COUNTERS = ("log_position", "version")  # not compared (see the module docstring)


@dataclass
class Comparison:
    """The outcome of comparing one pair of answers."""

    category: str
    recall: float | None = None  # recall@k of the new store vs the old (queries only)
    k: int = 0
    rank_agreement: float | None = None  # share of reference positions holding the same id
    max_distance_delta: float | None = None
    missing: list[str] = field(default_factory=list)  # a few ids only, for inspection
    extra: list[str] = field(default_factory=list)
    found: set[str] = field(default_factory=set)  # every category seen, for the worst list


def compare(route: str, k: int, old: tuple[int, bytes], new: tuple[int, bytes]) -> Comparison:
    """Compare the old store's answer (reference) with the new store's, for ``route``."""
    (old_status, old_body), (new_status, new_body) = old, new
    if old_status != new_status:
        return Comparison("error", k=k)
    try:
        ref, got = orjson.loads(old_body), orjson.loads(new_body)
    except orjson.JSONDecodeError:
        return Comparison("error", k=k)
    if old_status >= 400:
        same = (
            isinstance(ref, dict) and isinstance(got, dict) and ref.get("error") == got.get("error")
        )
        return Comparison("match" if same else "error", k=k)
    try:
        if route in ("count", "count_collections"):
            return _count(ref, got)
        if route in ("get_collection", "list_collections"):
            return _collections(ref, got, route == "get_collection")
        if route == "get":
            return _get(ref, got)
        return _query(ref, got, k)
    except (KeyError, TypeError, IndexError, ValueError):
        return Comparison("error", k=k)


def _count(ref: Any, got: Any) -> Comparison:
    if ref == got:
        return Comparison("match")
    return Comparison("missing_ids" if got < ref else "extra_ids")


def _collections(ref: Any, got: Any, single: bool) -> Comparison:
    """Collection objects: one (``get_collection``) or a list (``list_collections``)."""
    refs: list[dict[str, Any]] = [ref] if single else ref
    gots: list[dict[str, Any]] = [got] if single else got
    result = Comparison("match", k=len(refs))
    ref_ids, got_ids = [c["id"] for c in refs], [c["id"] for c in gots]
    _rows(result, ref_ids, got_ids, None, None)
    theirs = {c["id"]: c for c in gots}
    for mine in refs:
        other = theirs.get(mine["id"])
        if other is not None and _typed(_content_of(mine)) != _typed(_content_of(other)):
            result.found.add("metadata")
    return _finish(result)


def _content_of(collection: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in collection.items() if k not in _COUNTERS}


def _get(ref: dict[str, Any], got: dict[str, Any]) -> Comparison:
    result = Comparison("match", k=len(ref["ids"]))
    _rows(result, ref["ids"], got["ids"], None, None)
    _content(result, ref, got, None)
    return _finish(result)


def _query(ref: dict[str, Any], got: dict[str, Any], k: int) -> Comparison:
    result = Comparison("match", k=k)
    recalls: list[float] = []
    ranks: list[float] = []
    if len(ref["ids"]) != len(got["ids"]):
        return Comparison("error", k=k)
    for i, (ref_ids, got_ids) in enumerate(zip(ref["ids"], got["ids"], strict=True)):
        ref_d = None if ref.get("distances") is None else ref["distances"][i]
        got_d = None if got.get("distances") is None else got["distances"][i]
        recalls.append(_overlap(ref_ids, got_ids))
        ranks.append(_rank_agreement(ref_ids, got_ids))
        _rows(result, ref_ids, got_ids, ref_d, got_d)
        _content(result, ref, got, i)
    result.recall = sum(recalls) / len(recalls) if recalls else 1.0
    result.rank_agreement = sum(ranks) / len(ranks) if ranks else 1.0
    return _finish(result)


def _overlap(ref_ids: list[str], got_ids: list[str]) -> float:
    if not ref_ids:
        return 1.0
    return len(set(ref_ids) & set(got_ids)) / len(ref_ids)


def _rank_agreement(ref_ids: list[str], got_ids: list[str]) -> float:
    if not ref_ids:
        return 1.0
    same = sum(1 for a, b in zip(ref_ids, got_ids, strict=False) if a == b)
    return same / len(ref_ids)


def _rows(
    result: Comparison,
    ref_ids: list[str],
    got_ids: list[str],
    ref_d: list[float] | None,
    got_d: list[float] | None,
) -> None:
    got_set, ref_set = set(got_ids), set(ref_ids)
    missing = [i for i in ref_ids if i not in got_set]
    extra = [i for i in got_ids if i not in ref_set]
    if missing:
        result.found.add("missing_ids")
        result.missing.extend(missing[: IDS_KEPT - len(result.missing)])
    if extra:
        result.found.add("extra_ids")
        result.extra.extend(extra[: IDS_KEPT - len(result.extra)])
    if ref_d is not None and got_d is not None:
        _distances(result, ref_ids, got_ids, ref_d, got_d)
    if (
        not missing
        and not extra
        and ref_ids != got_ids
        and not _only_ties(ref_ids, got_ids, ref_d, got_d)
    ):
        result.found.add("order")


def _distances(
    result: Comparison,
    ref_ids: list[str],
    got_ids: list[str],
    ref_d: list[float],
    got_d: list[float],
) -> None:
    theirs = dict(zip(got_ids, got_d, strict=True))
    for rid, d in zip(ref_ids, ref_d, strict=True):
        if rid not in theirs:
            continue
        delta = abs(float(d) - float(theirs[rid]))
        worst = result.max_distance_delta or 0.0
        result.max_distance_delta = max(worst, delta)
        if delta > DISTANCE_TOLERANCE * max(1.0, abs(float(d))):
            result.found.add("distance")


def _only_ties(
    ref_ids: list[str], got_ids: list[str], ref_d: list[float] | None, got_d: list[float] | None
) -> bool:
    """Same rows in another order, but only among rows at equal distance."""
    if ref_d is None or got_d is None or len(ref_ids) != len(got_ids):
        return False
    return all(
        a == b or abs(float(x) - float(y)) <= DISTANCE_TOLERANCE * max(1.0, abs(float(x)))
        for a, b, x, y in zip(ref_ids, got_ids, ref_d, got_d, strict=True)
    )


def _content(result: Comparison, ref: dict[str, Any], got: dict[str, Any], i: int | None) -> None:
    def column(answer: dict[str, Any], name: str) -> list[Any] | None:
        value = answer.get(name)
        return value if value is None or i is None else value[i]

    ref_ids = column(ref, "ids") or []
    got_ids = column(got, "ids") or []
    got_pos = {rid: n for n, rid in enumerate(got_ids)}
    for name in _CONTENT:
        ref_col, got_col = column(ref, name), column(got, name)
        if (ref_col is None) != (got_col is None):
            result.found.add("metadata")
            continue
        if ref_col is None or got_col is None:
            continue
        for n, rid in enumerate(ref_ids):
            m = got_pos.get(rid)
            if m is not None and not _same_cell(name, ref_col[n], got_col[m]):
                result.found.add("metadata")
                return


def _same_cell(name: str, a: Any, b: Any) -> bool:
    if name == "embeddings" and a is not None and b is not None:
        return len(a) == len(b) and all(
            abs(float(x) - float(y)) <= EMBEDDING_TOLERANCE for x, y in zip(a, b, strict=True)
        )
    return bool(_typed(a) == _typed(b))


def _typed(value: Any) -> Any:
    """JSON value with int/float/bool kept apart (1 == 1.0 == True in plain Python)."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, value)


def _finish(result: Comparison) -> Comparison:
    result.category = next((c for c in SEVERITY if c in result.found), "match")
    return result


def severity(comparison: Comparison) -> tuple[int, float, float]:
    """Sort key, larger is worse: category rank, then recall loss, then distance delta."""
    rank = (
        len(SEVERITY) - SEVERITY.index(comparison.category)
        if comparison.category in SEVERITY
        else 0
    )
    recall_loss = 1.0 - (comparison.recall if comparison.recall is not None else 1.0)
    return (rank, recall_loss, comparison.max_distance_delta or 0.0)
