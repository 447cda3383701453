"""Chroma v2 JSON bodies <-> engine-neutral values (``Record``, ``CollectionSpec``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from adapters.base import CollectionKey, CollectionSpec, Record, Space


def space_of(body: dict[str, Any]) -> Space:
    """A collection's space: configuration (hnsw, then spann), legacy metadata, else l2."""
    config = body.get("configuration_json") or {}
    for index in ("hnsw", "spann"):
        space = (config.get(index) or {}).get("space")
        if space:
            return Space(space)
    legacy = (body.get("metadata") or {}).get("hnsw:space")
    return Space(legacy) if legacy else Space.L2


def spec_from(body: dict[str, Any]) -> CollectionSpec:
    """The spec of a Chroma collection object (``source_id`` is its UUID)."""
    return CollectionSpec(
        key=CollectionKey(name=body["name"], tenant=body["tenant"], database=body["database"]),
        space=space_of(body),
        dimension=body.get("dimension"),
        metadata=body.get("metadata"),
        configuration=body.get("configuration_json"),
        source_id=str(body["id"]),
        source_object=body,
    )


def records_from(body: dict[str, Any]) -> list[Record]:
    """Records of a get-shaped answer (parallel lists; unrequested fields are null)."""
    ids: list[str] = body["ids"]
    none: list[Any] = [None] * len(ids)
    embeddings = body.get("embeddings") or none
    metadatas = body.get("metadatas") or none
    documents = body.get("documents") or none
    uris = body.get("uris") or none
    return [
        Record(
            id=rid,
            embedding=None if emb is None else np.asarray(emb, dtype=np.float32),
            # Chroma reads a record that has a uri but no metadata back as {}: one empty value
            metadata=meta or None,
            document=doc,
            uri=uri,
        )
        for rid, emb, meta, doc, uri in zip(ids, embeddings, metadatas, documents, uris,
                                            strict=True)
    ]


def write_body(records: Sequence[Record]) -> dict[str, Any]:
    """An add/upsert body; embeddings as float lists (numpy, serialised by orjson)."""
    return {
        "ids": [r.id for r in records],
        "embeddings": [np.asarray(r.embedding, dtype=np.float32) for r in records],
        "metadatas": [r.metadata or None for r in records],
        "documents": [r.document for r in records],
        "uris": [r.uri for r in records],
    }
