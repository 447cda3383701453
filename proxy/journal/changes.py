"""Journal entries: normalised, idempotent changes to replay on the secondary store.

A change is a full image, never a delta: ``UpsertRecords`` carries whole records as
they stand in the primary after the write (change data capture), so replaying an
entry twice, or replaying it over a backfilled copy, always converges to the
primary's state. Embeddings travel as base64 float32 (little-endian) so a vector
survives the journal bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from adapters.base import CollectionKey, CollectionSpec, Record, Space
from adapters.qdrant_layout import decode_vector, encode_vector


@dataclass(frozen=True)
class PutCollection:
    """The collection exists with exactly this spec (created or metadata changed)."""

    spec: CollectionSpec

    @property
    def collection(self) -> CollectionKey:
        return self.spec.key


@dataclass(frozen=True)
class RenameCollection:
    """The collection once at ``old`` is now ``spec.key`` with ``spec``."""

    old: CollectionKey
    spec: CollectionSpec

    @property
    def collection(self) -> CollectionKey:
        return self.old


@dataclass(frozen=True)
class DropCollection:
    """The collection is gone, with everything in it."""

    key: CollectionKey

    @property
    def collection(self) -> CollectionKey:
        return self.key


@dataclass(frozen=True)
class UpsertRecords:
    """These records now stand exactly like this in the primary."""

    spec: CollectionSpec
    records: tuple[Record, ...]

    @property
    def collection(self) -> CollectionKey:
        return self.spec.key


@dataclass(frozen=True)
class DeleteRecords:
    """These ids no longer exist in the primary."""

    key: CollectionKey
    ids: tuple[str, ...]

    @property
    def collection(self) -> CollectionKey:
        return self.key


Change = PutCollection | RenameCollection | DropCollection | UpsertRecords | DeleteRecords


def change_kind(change: Change) -> str:
    return _KIND_BY_TYPE[type(change)]


def encode_change(change: Change) -> bytes:
    """Serialise a change for the journal."""
    body: dict[str, Any] = {"kind": change_kind(change)}
    if isinstance(change, PutCollection):
        body["spec"] = _spec_to_json(change.spec, with_object=True)
    elif isinstance(change, RenameCollection):
        body["old"] = _key_to_json(change.old)
        body["spec"] = _spec_to_json(change.spec, with_object=True)
    elif isinstance(change, DropCollection):
        body["key"] = _key_to_json(change.key)
    elif isinstance(change, UpsertRecords):
        body["spec"] = _spec_to_json(change.spec)
        body["records"] = [_record_to_json(r) for r in change.records]
    else:
        body["key"] = _key_to_json(change.key)
        body["ids"] = list(change.ids)
    return orjson.dumps(body)


def decode_change(data: bytes) -> Change:
    """Inverse of :func:`encode_change`."""
    body = orjson.loads(data)
    kind = body["kind"]
    if kind == "put_collection":
        return PutCollection(_spec_from_json(body["spec"]))
    if kind == "rename_collection":
        return RenameCollection(_key_from_json(body["old"]), _spec_from_json(body["spec"]))
    if kind == "drop_collection":
        return DropCollection(_key_from_json(body["key"]))
    if kind == "upsert_records":
        records = tuple(_record_from_json(r) for r in body["records"])
        return UpsertRecords(_spec_from_json(body["spec"]), records)
    if kind == "delete_records":
        return DeleteRecords(_key_from_json(body["key"]), tuple(body["ids"]))
    raise ValueError(f"unknown journal entry kind {kind!r}")


def record_ids(change: Change) -> Sequence[str]:
    if isinstance(change, UpsertRecords):
        return [r.id for r in change.records]
    if isinstance(change, DeleteRecords):
        return change.ids
    return ()


_KIND_BY_TYPE: dict[type, str] = {
    PutCollection: "put_collection",
    RenameCollection: "rename_collection",
    DropCollection: "drop_collection",
    UpsertRecords: "upsert_records",
    DeleteRecords: "delete_records",
}


def _key_to_json(key: CollectionKey) -> list[str]:
    return [key.tenant, key.database, key.name]


def _key_from_json(raw: list[str]) -> CollectionKey:
    tenant, database, name = raw
    return CollectionKey(name=name, tenant=tenant, database=database)


def _spec_to_json(spec: CollectionSpec, with_object: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "key": _key_to_json(spec.key),
        "space": spec.space.value,
        "dimension": spec.dimension,
        "metadata": spec.metadata,
        "configuration": spec.configuration,
        "source_id": spec.source_id,
    }
    # Chroma's collection object (~2.5 KB) rides on collection changes only: record
    # entries would carry it on every write, and the applier only needs it from those.
    if with_object and spec.source_object is not None:
        body["source_object"] = spec.source_object
    return body


def _spec_from_json(raw: dict[str, Any]) -> CollectionSpec:
    return CollectionSpec(
        key=_key_from_json(raw["key"]),
        space=Space(raw["space"]),
        dimension=raw["dimension"],
        metadata=raw["metadata"],
        configuration=raw["configuration"],
        source_id=raw["source_id"],
        source_object=raw.get("source_object"),
    )


def _record_to_json(record: Record) -> dict[str, Any]:
    return {
        "id": record.id,
        "e": None if record.embedding is None else encode_vector(record.embedding),
        "m": record.metadata,
        "d": record.document,
        "u": record.uri,
    }


def _record_from_json(raw: dict[str, Any]) -> Record:
    embedding = None if raw["e"] is None else decode_vector(raw["e"])
    return Record(
        id=raw["id"], embedding=embedding, metadata=raw["m"], document=raw["d"], uri=raw["u"]
    )
