"""Chroma's row order (insertion order, kept across updates) and the seq rules."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from qdrant_client import QdrantClient
from reads_mirror import Mirror

from adapters import qdrant_reads
from adapters.base import GetRequest, Space
from adapters.chroma_order import JOURNAL_BASE, assign_seqs, backfill_seq, journal_seq


def vec(i: int) -> list[float]:
    return [float(i), 1.0]


def test_order_follows_first_insertion(chroma_app: Any) -> None:
    mirror = Mirror(
        chroma_app, QdrantClient(":memory:"), f"ord-{uuid.uuid4().hex[:8]}", Space.L2, 2
    )
    mirror.journal("add", ["z", "m", "a"], embeddings=[vec(1), vec(2), vec(3)])
    mirror.journal("add", ["b", "y"], embeddings=[vec(4), vec(5)])
    mirror.journal("upsert", ["m"], embeddings=[vec(9)], metadatas=[{"k": 1}])
    mirror.journal("update", ["z"], metadatas=[{"k": 2}])
    mirror.journal("delete", ["a"])
    mirror.journal("add", ["a"], embeddings=[vec(3)])
    mirror.journal("upsert", ["new", "b"], embeddings=[vec(7), vec(8)])
    mirror.journal("add", ["c", "y"], embeddings=[vec(7), vec(8)])  # y exists: ignored
    expected = ["z", "m", "b", "y", "a", "new", "c"]
    assert mirror.collection.get()["ids"] == expected
    got = qdrant_reads.get(mirror.target(), GetRequest())
    assert [r.id for r in got] == expected
    for ordered in (True, False):  # order_by paging and full scan + sort
        target = mirror.target(ordered_scroll=ordered)
        window = qdrant_reads.get(target, GetRequest(limit=3, offset=2))
        assert [r.id for r in window] == mirror.collection.get(limit=3, offset=2)["ids"]
    by_ids = qdrant_reads.get(mirror.target(), GetRequest(ids=["c", "z", "zz", "c"]))
    assert [r.id for r in by_ids] == ["z", "c"]  # found ids, de-duplicated, Chroma's order


def test_seq_rules() -> None:
    assert backfill_seq(5) == 5 < journal_seq(0, 0) == JOURNAL_BASE
    assert journal_seq(1, 0) > journal_seq(0, 5460)
    assert assign_seqs(["a", "b"], {"b": 3}, 7) == {"a": journal_seq(7, 0), "b": 3}
    with pytest.raises(ValueError):
        journal_seq(0, 1 << 16)
