"""Helpers of the cutover tests: raw Chroma HTTP calls, random write bodies, row snapshots."""

from __future__ import annotations

import random
import struct
from typing import Any

import aiohttp
import numpy as np
import orjson
import pybase64

from adapters.base import Record

PREFIX = "/api/v2/tenants/default_tenant/databases/default_database"


async def chroma_call(
    session: aiohttp.ClientSession, url: str, method: str, path: str, body: bytes | None = None
) -> tuple[int, Any]:
    """One raw call to a real Chroma; (status, decoded JSON)."""
    headers = {"Content-Type": "application/json"}
    async with session.request(method, url + PREFIX + path, data=body, headers=headers) as resp:
        return resp.status, orjson.loads(await resp.read())


def b64(vector: list[float]) -> str:
    return pybase64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def normalise(records: list[Record]) -> dict[str, tuple[Any, ...]]:
    """id -> (vector, metadata, document, uri); {} metadata counts as None (adapter rule)."""
    return {
        r.id: (
            None if r.embedding is None else tuple(np.asarray(r.embedding, np.float32).tolist()),
            r.metadata or None, r.document, r.uri,
        )
        for r in records
    }  # fmt: skip


class WriteGenerator:
    """Random Chroma write bodies over a small id pool (so ops collide), some invalid."""

    def __init__(self, seed: int, dimension: int = 3) -> None:
        self.rng = random.Random(seed)
        self.dim = dimension
        self.ids = [f"id{i}" for i in range(14)]

    def vector(self) -> list[float]:
        return [self.rng.choice([-2.0, -1.0, -0.5, 0.0, 0.25, 1.0, 3.5]) for _ in range(self.dim)]

    def value(self, nulls: bool) -> Any:
        kind = self.rng.randrange(8 if nulls else 7)
        return [
            self.rng.randrange(-3, 4), self.rng.choice([0.5, 1.5, -2.25]),
            self.rng.choice(["a", "b", "hello"]), self.rng.random() < 0.5,
            [self.rng.randrange(3), self.rng.randrange(3)], ["x", "y"], [],
            None,
        ][kind]

    def metadata(self, nulls: bool) -> dict[str, Any] | None:
        if self.rng.random() < 0.2:
            return None
        keys = self.rng.sample(["k1", "k2", "k3", "k4"], self.rng.randrange(0, 4))
        return {k: self.value(nulls) for k in keys}

    def record_body(self, op: str) -> dict[str, Any]:
        n = self.rng.randrange(1, 5)
        ids = [self.rng.choice(self.ids) for _ in range(n)]
        body: dict[str, Any] = {"ids": ids}
        as_b64 = self.rng.random() < 0.6
        if op != "update" or self.rng.random() < 0.6:
            vectors = [self.vector() for _ in ids]
            body["embeddings"] = [b64(v) for v in vectors] if as_b64 else vectors
        if self.rng.random() < 0.7:
            body["metadatas"] = [self.metadata(op != "add") for _ in ids]
        if self.rng.random() < 0.6:
            body["documents"] = [self.rng.choice([None, "hello world", "bye", "x y z"])
                                 for _ in ids]  # fmt: skip
        if self.rng.random() < 0.2:
            body["uris"] = [self.rng.choice([None, "s3://a", "s3://b"]) for _ in ids]
        return body

    def invalid(self, op: str) -> dict[str, Any]:
        body = self.record_body(op if op != "update" else "upsert")
        broken = self.rng.randrange(5)
        if broken == 0:
            body["embeddings"] = [[1.0] * (self.dim + 1) for _ in body["ids"]]
        elif broken == 1:
            body["ids"] = ["", *body["ids"][1:]]
        elif broken == 2:
            body["ids"] = [*body["ids"], "extra"]
        elif broken == 3:
            body["metadatas"] = [{"$bad": 1} for _ in body["ids"]]
        else:
            body["embeddings"] = [b64([float("nan")] * self.dim) for _ in body["ids"]]
        return body

    def delete_body(self) -> dict[str, Any]:
        choice = self.rng.randrange(4)
        if choice == 0:
            return {"ids": self.rng.sample(self.ids, 2)}
        if choice == 1:
            return {"where": {"k1": {"$gte": self.rng.randrange(-2, 3)}}}
        if choice == 2:
            return {"where_document": {"$contains": "hello"}}
        return {"ids": self.rng.sample(self.ids, 4), "where": {"k2": {"$ne": "a"}}}

    def next(self) -> tuple[str, dict[str, Any]]:
        op = self.rng.choices(["add", "upsert", "update", "delete"], [4, 4, 3, 1])[0]
        if op == "delete":
            return op, self.delete_body()
        if self.rng.random() < 0.1:
            return op, self.invalid(op)
        return op, self.record_body(op)
