"""How Chroma data is laid out inside Qdrant. Every rule here is part of the on-disk format.

Collections
    A collection in the default tenant and database keeps its Chroma name unchanged
    (Chroma names are ``[a-zA-Z0-9._-]``, so they never contain ``~``). Any other
    collection is ``<tenant>~<database>~<name>`` with ``~`` and ``%`` escaped in each part,
    so two different (tenant, database, name) triples never map to the same name.
    The catalog collection ``vecbridge~catalog`` holds one point per collection with
    its spec (space, dimension, metadata, configuration, source id, and
    ``source_object``: Chroma's whole collection JSON as last captured, from which
    collection reads are answered; absent in entries written by older versions):
    Qdrant needs a vector size at creation while Chroma learns it at the first add,
    and Qdrant has no place for Chroma's collection metadata.

Points
    id      uuid5(POINT_NAMESPACE, chroma_id) for every id, even ids that look like UUIDs.
    vector  the record's embedding (Qdrant normalises it in cosine collections).
    payload ``chroma_id`` (keyword-indexed), ``document``, ``uri``, ``metadata`` (the
            Chroma metadata dict verbatim, or null), ``list_keys`` (metadata keys whose
            value is a list: Chroma's ``$eq`` never matches them while Qdrant's match does),
            and in cosine collections ``embedding_b64``: the original float32 vector,
            little-endian, base64, because Qdrant only keeps the normalised one; and
            ``seq``, the row's place in Chroma's row order (rules in chroma_order.py;
            written by QdrantStore.upsert).
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pybase64

from adapters.base import (
    DEFAULT_DATABASE,
    DEFAULT_TENANT,
    CollectionKey,
    CollectionSpec,
    Record,
    Space,
)

POINT_NAMESPACE = uuid.UUID("5b7e4a8c-2f1d-5e0a-9c3b-7d6e1f2a3b4c")
CATALOG_COLLECTION = "vecbridge~catalog"
ID_FIELD = "chroma_id"
DOCUMENT_FIELD = "document"
URI_FIELD = "uri"
METADATA_FIELD = "metadata"
LIST_KEYS_FIELD = "list_keys"
ORIGINAL_VECTOR_FIELD = "embedding_b64"

DISTANCE_BY_SPACE = {Space.L2: "Euclid", Space.COSINE: "Cosine", Space.IP: "Dot"}


def _escape(part: str) -> str:
    return part.replace("%", "%25").replace("~", "%7E")


def _unescape(part: str) -> str:
    return part.replace("%7E", "~").replace("%25", "%")


def collection_name(key: CollectionKey) -> str:
    """The Qdrant collection that holds ``key``."""
    if key.tenant == DEFAULT_TENANT and key.database == DEFAULT_DATABASE:
        return key.name
    return "~".join(_escape(p) for p in (key.tenant, key.database, key.name))


def collection_key(qdrant_name: str) -> CollectionKey:
    """Inverse of :func:`collection_name`."""
    parts = qdrant_name.split("~")
    if len(parts) == 1:
        return CollectionKey(name=qdrant_name)
    if len(parts) != 3:
        raise ValueError(f"not a vecbridge collection name: {qdrant_name!r}")
    tenant, database, name = (_unescape(p) for p in parts)
    return CollectionKey(name=name, tenant=tenant, database=database)


def catalog_point_id(key: CollectionKey) -> str:
    return str(uuid.uuid5(POINT_NAMESPACE, "catalog:" + collection_name(key)))


def point_id(chroma_id: str) -> str:
    """The Qdrant point id of a Chroma record id."""
    return str(uuid.uuid5(POINT_NAMESPACE, chroma_id))


def encode_vector(vector: np.ndarray[Any, Any]) -> str:
    return pybase64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def decode_vector(text: str) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.frombuffer(pybase64.b64decode(text), dtype="<f4").astype(np.float32)


def record_payload(record: Record, space: Space) -> dict[str, Any]:
    """The Qdrant payload that stores ``record`` (everything but the vector)."""
    metadata = record.metadata
    payload: dict[str, Any] = {
        ID_FIELD: record.id,
        DOCUMENT_FIELD: record.document,
        URI_FIELD: record.uri,
        METADATA_FIELD: metadata,
        LIST_KEYS_FIELD: sorted(k for k, v in (metadata or {}).items() if isinstance(v, list)),
    }
    if space is Space.COSINE and record.embedding is not None:
        payload[ORIGINAL_VECTOR_FIELD] = encode_vector(record.embedding)
    return payload


def record_from_point(payload: dict[str, Any], vector: Any) -> Record:
    """Rebuild the Chroma record from a Qdrant point (original vector when it was kept)."""
    embedding: np.ndarray[Any, np.dtype[np.float32]] | None
    if payload.get(ORIGINAL_VECTOR_FIELD) is not None:
        embedding = decode_vector(payload[ORIGINAL_VECTOR_FIELD])
    elif vector is not None and not isinstance(vector, dict):
        embedding = np.asarray(vector, dtype=np.float32)
    else:
        embedding = None
    return Record(
        id=payload[ID_FIELD],
        embedding=embedding,
        metadata=payload.get(METADATA_FIELD),
        document=payload.get(DOCUMENT_FIELD),
        uri=payload.get(URI_FIELD),
    )


def catalog_payload(spec: CollectionSpec) -> dict[str, Any]:
    return {
        "tenant": spec.key.tenant,
        "database": spec.key.database,
        "name": spec.key.name,
        "qdrant_collection": collection_name(spec.key),
        "space": spec.space.value,
        "dimension": spec.dimension,
        "metadata": spec.metadata,
        "configuration": spec.configuration,
        "source_id": spec.source_id,
        "source_object": spec.source_object,
    }


def spec_from_catalog(payload: dict[str, Any]) -> CollectionSpec:
    return CollectionSpec(
        key=CollectionKey(
            name=payload["name"], tenant=payload["tenant"], database=payload["database"]
        ),
        space=Space(payload["space"]),
        dimension=payload.get("dimension"),
        metadata=payload.get("metadata"),
        configuration=payload.get("configuration"),
        source_id=payload.get("source_id"),
        source_object=payload.get("source_object"),
    )
