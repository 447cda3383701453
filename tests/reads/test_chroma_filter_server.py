"""Chroma's where semantics, pinned on a real server, and our evaluator against it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from conftest import RawChroma
from qdrant_client import QdrantClient
from reads_mirror import Mirror

from adapters import qdrant_reads
from adapters.base import GetRequest, Space
from adapters.chroma_filter import matches_where

VALUES: dict[str, Any] = {
    "im3": -3,
    "im2": -2,
    "i0": 0,
    "i1": 1,
    "i2": 2,
    "fm25": -2.5,
    "f1": 1.0,
    "f2": 2.0,
    "f25": 2.5,
    "t": True,
    "f": False,
    "s2": "2",
    "lf": [1.0, 2.5],
    "li": [1, 2],
    "lb": [True, False],
    "ls": ["a", "b"],
    "lf2": [2.0],
}
ROWS = [*VALUES, "none"]

# (where, ids Chroma 1.5.9 returns), observed on the real server.
PINNED: list[tuple[dict[str, Any], set[str]]] = [
    ({"n": 1}, {"i1", "f1"}),  # numbers compare across int and float
    ({"n": 1.0}, {"i1", "f1"}),
    ({"n": True}, {"t"}),  # bools are not numbers
    ({"n": "2"}, {"s2"}),
    ({"n": {"$ne": 1}}, set(ROWS) - {"i1", "f1"}),  # $ne keeps missing keys and lists
    ({"n": {"$nin": ["a"]}}, set(ROWS)),  # $in never matches lists, so $nin keeps them
    ({"n": {"$in": [2]}}, {"i2", "f2"}),
    ({"n": {"$contains": 2}}, {"li"}),  # list membership is type-strict
    ({"n": {"$contains": 2.0}}, {"lf2"}),
    ({"n": {"$contains": True}}, {"lb"}),
    ({"n": {"$contains": "2"}}, set()),  # never matches a scalar field
    ({"n": {"$not_contains": 2}}, set(ROWS) - {"li"}),
    ({"$and": []}, set(ROWS)),
    ({"$or": []}, set()),
    # chroma#7491: against int-stored values a non-integral float bound is truncated.
    ({"n": {"$eq": 2.5}}, {"i2", "f25"}),
    ({"n": {"$lt": 0.5}}, {"im3", "im2", "fm25"}),
    ({"n": {"$gt": -2.5}}, {"i0", "i1", "i2", "f1", "f2", "f25"}),
    ({"n": {"$in": [2.5]}}, {"i2", "f25"}),
]


@pytest.fixture(scope="module")
def probe(chroma_app: Any) -> Mirror:
    mirror = Mirror(
        chroma_app, QdrantClient(":memory:"), f"pin-{uuid.uuid4().hex[:8]}", Space.L2, 2
    )
    mirror.journal(
        "add",
        ROWS,
        embeddings=[[float(i), 1.0] for i in range(len(ROWS))],
        metadatas=[{"n": VALUES[r]} if r in VALUES else {"other": 1} for r in ROWS],
    )
    return mirror


@pytest.mark.parametrize(("where", "expected"), PINNED, ids=[str(w) for w, _ in PINNED])
def test_pinned_semantics(
    probe: Mirror, raw_chroma: RawChroma, where: dict[str, Any], expected: set[str]
) -> None:
    status, answer = raw_chroma.post(str(probe.collection.id), "get", {"where": where})
    assert status == 200 and set(answer["ids"]) == expected
    mine = {r for r in ROWS if matches_where(where, {"n": VALUES[r]} if r in VALUES else {})}
    assert mine == expected
    got = qdrant_reads.get(probe.target(), GetRequest(where=where))
    assert {r.id for r in got} == expected


def test_correct_mode_differs_only_on_chroma_bug(probe: Mirror) -> None:
    """chroma_bugs=False gives the mathematically right answer (a documented option)."""
    right = probe.target(chroma_bugs=False)
    assert {r.id for r in qdrant_reads.get(right, GetRequest(where={"n": {"$eq": 2.5}}))} == {"f25"}
    lt = qdrant_reads.get(right, GetRequest(where={"n": {"$lt": 0.5}}))
    assert {r.id for r in lt} == {"im3", "im2", "fm25", "i0"}
    assert {r.id for r in qdrant_reads.get(right, GetRequest(where={"n": 1}))} == {"i1", "f1"}
