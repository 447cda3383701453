"""Distance-aware recall: a target that finds closer records than an approximate source
loses nothing; a target that misses a record the source found closer does."""

from __future__ import annotations

from adapters.base import Hit, Record
from proxy.migration.recall import score_query


def _hits(*pairs: tuple[str, float]) -> list[Hit]:
    return [Hit(Record(rid), distance) for rid, distance in pairs]


def test_exact_target_beating_the_source_scores_full_recall() -> None:
    source = _hits(("a", 0.1), ("b", 0.5), ("c", 0.9))  # HNSW missed "x" at 0.2
    target = _hits(("a", 0.1), ("x", 0.2), ("b", 0.5))
    score = score_query(source, target, 3)
    assert score == {"overlap": 0.6667, "recall": 1.0, "missing": []}


def test_target_missing_a_closer_record_loses_recall() -> None:
    source = _hits(("a", 0.1), ("b", 0.2), ("c", 0.3))
    target = _hits(("a", 0.1), ("c", 0.3), ("z", 0.8))  # "b" is lost
    score = score_query(source, target, 3)
    assert score["recall"] < 1.0 and score["missing"] == ["b"]


def test_short_target_answer_does_not_excuse_misses() -> None:
    source = _hits(("a", 0.1), ("b", 0.2))
    assert score_query(source, _hits(("a", 0.1)), 2)["recall"] == 0.5
