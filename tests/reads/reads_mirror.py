"""Test support: a Chroma collection and its Qdrant copy, written the way the writer must.

Every change goes to the real Chroma server through the chromadb client (the app), then
the changed rows are read back from Chroma (full row images, as the journal captures
them) and upserted into Qdrant with the layout of adapters/qdrant_layout.py and the
``seq`` rules of adapters/chroma_order.py. The initial rows arrive by "backfill"
(Chroma's ``get`` order), later ones by "journal" entries.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np
from qdrant_client import QdrantClient, models

from adapters.base import Record, Space
from adapters.chroma_order import SEQ_FIELD, assign_seqs, backfill_seq, seq_of
from adapters.qdrant_layout import DISTANCE_BY_SPACE, point_id, record_payload
from adapters.qdrant_reads import ReadTarget

STRINGS = ["a", "b", "A", "ab", "a_c", "50%"]
INTS = [-3, -2, 0, 1, 2, 3]
FLOATS = [-2.5, -1.0, 0.0, 0.5, 1.0, 2.0, 2.5]
KEYS = ["k0", "k1", "k2", "k3", "k.4", "k 5"]
WORDS = ["alpha", "Beta", "beta", "a_c", "50%", "abc", "ABC", "x y", "\u00e9t\u00e9", "line\n"]


def random_value(rng: random.Random) -> Any:
    kind = rng.choice(["str", "int", "float", "bool", "list"])
    if kind == "str":
        return rng.choice(STRINGS)
    if kind == "int":
        return rng.choice(INTS)
    if kind == "float":
        return rng.choice(FLOATS)
    if kind == "bool":
        return rng.random() < 0.5
    pool: list[Any] = rng.choice([STRINGS, INTS, FLOATS, [True, False]])
    return [rng.choice(pool) for _ in range(rng.randint(1, 3))]


def random_metadata(rng: random.Random) -> dict[str, Any] | None:
    if rng.random() < 0.1:
        return None
    keys = rng.sample(KEYS, rng.randint(1, 4))
    return {k: random_value(rng) for k in keys}


def random_document(rng: random.Random) -> str | None:
    if rng.random() < 0.15:
        return None
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))


class Mirror:
    """A Chroma collection (via chromadb) kept in sync with a Qdrant collection."""

    def __init__(
        self, chroma: Any, qdrant: QdrantClient, name: str, space: Space, dim: int
    ) -> None:
        self.collection = chroma.create_collection(
            name, configuration={"hnsw": {"space": space.value}}
        )
        self.qdrant = qdrant
        self.name = name
        self.space = space
        self.dim = dim
        self.entry = 0
        self._embeddings: dict[str, Any] | None = None
        qdrant.create_collection(
            name,
            vectors_config=models.VectorParams(
                size=dim, distance=models.Distance(DISTANCE_BY_SPACE[space])
            ),
        )

    def target(self, **kwargs: Any) -> ReadTarget:
        return ReadTarget(self.qdrant, self.name, self.space, self.dim, **kwargs)

    def embeddings(self) -> dict[str, Any]:
        """Every stored embedding by id, as Chroma gives them back (cached until a write)."""
        if self._embeddings is None:
            got = self.collection.get(include=["embeddings"])
            self._embeddings = dict(zip(got["ids"], got["embeddings"], strict=True))
        return self._embeddings

    def _rows(self, ids: Sequence[str]) -> list[Record]:
        got = self.collection.get(
            ids=list(ids), include=["embeddings", "metadatas", "documents", "uris"]
        )
        return [
            Record(i, np.asarray(e, dtype=np.float32), m, d, u)
            for i, e, m, d, u in zip(
                got["ids"],
                got["embeddings"],
                got["metadatas"],
                got["documents"],
                got["uris"],
                strict=True,
            )
        ]

    def _write(self, records: Sequence[Record], seqs: dict[str, int]) -> None:
        points = [
            models.PointStruct(
                id=point_id(r.id),
                vector=np.asarray(r.embedding, dtype=np.float32).tolist(),
                payload={**record_payload(r, self.space), SEQ_FIELD: seqs[r.id]},
            )
            for r in records
        ]
        if points:
            self.qdrant.upsert(self.name, points)

    def backfill(self) -> None:
        """Copy every Chroma row in Chroma's order (seq = position), paging by offset."""
        position = 0
        while True:
            page = self.collection.get(limit=7, offset=position)["ids"]
            if not page:
                return
            rows = self._rows(page)
            by_id = {r.id: r for r in rows}
            ordered = [by_id[i] for i in page]
            self._write(ordered, {i: backfill_seq(position + n) for n, i in enumerate(page)})
            position += len(page)

    def journal(self, op: str, ids: Sequence[str], **kwargs: Any) -> None:
        """Run one write on Chroma, then apply its row images to Qdrant (journal rules)."""
        getattr(self.collection, op)(ids=list(ids), **kwargs)
        self.entry += 1
        self._embeddings = None
        if op == "delete":
            self.qdrant.delete(
                self.name, points_selector=models.PointIdsList(points=[point_id(i) for i in ids])
            )
            return
        rows = self._rows(ids)
        found = self.qdrant.retrieve(
            self.name, ids=[point_id(r.id) for r in rows], with_payload=[SEQ_FIELD, "chroma_id"]
        )
        existing = {p.payload["chroma_id"]: seq_of(p.payload) for p in found if p.payload}
        known = {k: v for k, v in existing.items() if v is not None}
        self._write(rows, assign_seqs([r.id for r in rows], known, self.entry))


def build_mirror(
    chroma: Any,
    qdrant: QdrantClient,
    name: str,
    space: Space,
    seed: int,
    size: int = 36,
    dim: int = 4,
) -> Mirror:
    """A random collection with a history of adds, upserts, updates and deletes."""
    rng = random.Random(seed)
    mirror = Mirror(chroma, qdrant, name, space, dim)
    nprng = np.random.default_rng(seed)

    def batch(ids: Sequence[str]) -> dict[str, Any]:
        vecs = nprng.normal(size=(len(ids), dim)).astype(np.float32)
        return {
            "embeddings": [v.tolist() for v in vecs],
            "metadatas": [random_metadata(rng) or {"k0": "a"} for _ in ids],
            "documents": [random_document(rng) or "" for _ in ids],
        }

    first = [f"r{n:02d}" for n in rng.sample(range(size), size // 2)]
    mirror.collection.add(ids=first, **batch(first))
    mirror.backfill()
    rest = [f"r{n:02d}" for n in range(size) if f"r{n:02d}" not in first]
    mirror.journal("add", rest[:8], **batch(rest[:8]))
    mixed = rest[8:12] + first[:3]
    mirror.journal("upsert", mixed, **batch(mixed))
    changed = first[3:6] + rest[:2]
    mirror.journal("update", changed, metadatas=[{"k1": 7, "k2": None} for _ in changed])
    mirror.journal("delete", first[6:9] + rest[2:3])
    mirror.journal("add", first[6:8] + rest[12:], **batch(first[6:8] + rest[12:]))
    _strip_nones(mirror, rng, nprng)
    return mirror


def _strip_nones(mirror: Mirror, rng: random.Random, nprng: np.random.Generator) -> None:
    """Rows without metadata / document, added raw (the batch helper fills them in)."""
    ids = ["bare1", "bare2", "bare3"]
    vecs = nprng.normal(size=(3, mirror.dim)).astype(np.float32)
    mirror.journal("add", ids[:1], embeddings=[vecs[0].tolist()])
    mirror.journal(
        "add", ids[1:2], embeddings=[vecs[1].tolist()], metadatas=[{"k0": rng.choice(STRINGS)}]
    )
    mirror.journal(
        "add", ids[2:], embeddings=[vecs[2].tolist()], documents=["alpha"], uris=["file://x"]
    )
