"""Chroma v2 record writes (add / upsert / update / delete): parse, validate, merge.

Used from cutover on, when the new store answers writes itself and must behave exactly
like Chroma 1.5.9 (observed on a real server, pinned in tests/cutover/):

* bodies are parallel lists ``ids, embeddings, metadatas, documents, uris``; embeddings
  are base64 strings of packed little-endian float32, or float lists;
* ``add`` ignores ids that exist (and later duplicates in the same request);
* ``update`` ignores ids that do not exist; ``update`` and ``upsert`` MERGE metadata
  (a null value deletes the key), and a null/omitted embedding, document or uri keeps
  the stored one; duplicates in one request apply one after the other;
* errors: undeserialisable shapes are 422 ``ChromaError``, broken JSON and invalid
  values 400 ``InvalidArgumentError`` (raised here as ``BodyError`` / ``InvalidArgument``
  and rendered by :func:`proxy.dialects.chroma.reads.render_error`).

Empty metadata is ``None`` in every image (the convention of adapters/chroma.py).
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pybase64

from adapters.base import Metadata, Record, Vector
from adapters.chroma_filter import InvalidArgument
from proxy.dialects.chroma.reads import BodyError

I64 = (-(2**63), 2**63 - 1)
_DESERIALIZE = "Failed to deserialize the JSON body into the target type"
_NO_VARIANT = "data did not match any variant of untagged enum "
_LENGTHS = "Inconsistent number of IDs, embeddings, documents, URIs and metadatas"


@dataclass(frozen=True)
class RecordWrite:
    """A parsed add / upsert / update body (lists are None when the field was not sent)."""

    op: str
    ids: list[str]
    embeddings: list[Vector | None] | None
    metadatas: list[Metadata | None] | None
    documents: list[str | None] | None
    uris: list[str | None] | None


@dataclass(frozen=True)
class DeleteWrite:
    """A parsed delete body."""

    ids: list[str] | None
    where: Metadata | None
    where_document: Metadata | None

    @property
    def by_filter(self) -> bool:
        return bool(self.where) or bool(self.where_document)


def _bad(field: str, what: str) -> BodyError:
    return BodyError(f"{_DESERIALIZE}: {field}: {what}")


def load_body(body: bytes) -> dict[str, Any]:
    """The JSON object of a write body (NaN/Infinity are not JSON: 400, as in Chroma)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyError(f"Failed to parse the request body as JSON: {exc}", 400) from exc
    if not isinstance(data, dict):
        raise BodyError(f"{_DESERIALIZE}: invalid type, expected a map")
    return data


def _ids(data: dict[str, Any], required: bool) -> list[str] | None:
    if data.get("ids") is None:
        if required:
            raise BodyError(f"{_DESERIALIZE}: missing field `ids`")
        return None
    ids = data["ids"]
    if not isinstance(ids, list):
        raise _bad("ids", "invalid type, expected a sequence")
    for i, value in enumerate(ids):
        if not isinstance(value, str):
            raise _bad(f"ids[{i}]", f"invalid type: {value!r}, expected a string")
    return ids


def _decode_b64(text: str) -> Vector:
    try:
        raw = pybase64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidArgument(f"Invalid base64 string: {exc}") from exc
    if len(raw) % 4:
        raise InvalidArgument(
            f"Invalid byte length: {len(raw)} bytes cannot be converted to f32 values "
            "(must be divisible by 4)"
        )
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)


def _float_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in value
    )


def _embeddings(data: dict[str, Any], op: str) -> list[Vector | None] | None:
    value = data.get("embeddings")
    if value is None:
        if op == "update":
            return None
        if "embeddings" not in data:
            raise BodyError(f"{_DESERIALIZE}: missing field `embeddings`")
        raise _bad("embeddings", _NO_VARIANT + "EmbeddingsPayload")
    ok = isinstance(value, list) and (
        all(isinstance(v, str) for v in value)
        or all(_float_list(v) or (v is None and op == "update") for v in value)
    )
    if not ok:
        raise _bad("embeddings", _NO_VARIANT + "EmbeddingsPayload")
    vectors: list[Vector | None] = []
    for index, item in enumerate(value):
        if item is None:
            vectors.append(None)
            continue
        vector = _decode_b64(item) if isinstance(item, str) else np.asarray(item, dtype=np.float32)
        bad = vector[~np.isfinite(vector)]
        if bad.size:
            shown = "NaN" if np.isnan(bad[0]) else ("inf" if bad[0] > 0 else "-inf")
            raise InvalidArgument(f"Non-finite float value at embedding index {index}: {shown}")
        vectors.append(vector)
    return vectors


def _strings(data: dict[str, Any], field: str) -> list[str | None] | None:
    value = data.get(field)
    if value is None:
        return None
    if not isinstance(value, list):
        raise _bad(field, "invalid type, expected a sequence")
    for i, item in enumerate(value):
        if item is not None and not isinstance(item, str):
            raise _bad(f"{field}[{i}]", f"invalid type: {item!r}, expected a string")
    return value


def _scalar(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and not I64[0] <= value <= I64[1]:
        return float(value)  # Chroma keeps integers beyond i64 as floats
    return value


def _list_value(field: str, value: list[Any]) -> list[Any]:
    kinds = {bool if isinstance(v, bool) else float if isinstance(v, int | float)
             else str if isinstance(v, str) else None for v in value}  # fmt: skip
    if None in kinds or len(kinds) > 1:
        raise _bad(field, "data did not match any variant of untagged enum MetadataValue")
    if kinds == {float} and any(isinstance(v, float) for v in value):
        return [float(v) for v in value]
    return [_scalar(v) for v in value]


def _metadata(index: int, value: Any, nulls: bool) -> Metadata | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad(f"metadatas[{index}]", "invalid type, expected a map")
    out: Metadata = {}
    for key, item in value.items():
        field = f"metadatas[{index}].{key}"
        if item is None and nulls:
            out[key] = None
        elif isinstance(item, str | bool | int | float):
            out[key] = _scalar(item)
        elif isinstance(item, list):
            out[key] = _list_value(field, item)
        else:
            raise _bad(field, "data did not match any variant of untagged enum MetadataValue")
    return out


def _metadatas(data: dict[str, Any], op: str) -> list[Metadata | None] | None:
    value = data.get("metadatas")
    if value is None:
        return None
    if not isinstance(value, list):
        raise _bad("metadatas", "invalid type, expected a sequence")
    # add has no way to delete a key: a null value does not deserialise there
    return [_metadata(i, m, nulls=op != "add") for i, m in enumerate(value)]


def parse_record_write(op: str, body: bytes) -> RecordWrite:
    """Parse and validate (without the collection's dimension) an add/upsert/update body."""
    data = load_body(body)
    ids = _ids(data, required=True)
    assert ids is not None
    write = RecordWrite(
        op, ids, _embeddings(data, op), _metadatas(data, op),
        _strings(data, "documents"), _strings(data, "uris"),
    )  # fmt: skip
    _validate(write)
    return write


def _validate(write: RecordWrite) -> None:
    columns = (write.embeddings, write.metadatas, write.documents, write.uris)
    if any(c is not None and len(c) != len(write.ids) for c in columns):
        raise InvalidArgument(_LENGTHS)
    if any(not i for i in write.ids):
        raise InvalidArgument("Empty ID, ID must have at least one character")
    for index, meta in enumerate(write.metadatas or []):
        if meta and any(not k or k[0] in "#$" for k in meta):
            raise InvalidArgument(f"Validation error: metadatas: Invalid metadata at index {index}")
    sizes = {len(v) for v in write.embeddings or [] if v is not None}
    if 0 in sizes:
        raise InvalidArgument(
            "Validation error: embeddings: Each embedding must have at least 1 dimension"
        )


def check_dimension(write: RecordWrite, dimension: int | None) -> None:
    """Every embedding must have the collection's dimension (or agree, for the first add)."""
    vectors = [v for v in write.embeddings or [] if v is not None]
    if dimension is None:
        if len({len(v) for v in vectors}) > 1:
            raise InvalidArgument("Inconsistent dimensions in provided embeddings")
        return
    for vector in vectors:
        if len(vector) != dimension:
            raise InvalidArgument(
                f"Collection expecting embedding with dimension of {dimension}, got {len(vector)}"
            )


def parse_delete(body: bytes) -> DeleteWrite:
    """Parse a delete body; ``ids: []`` without a filter is refused as Chroma does."""
    data = load_body(body) if body else {}
    ids = _ids(data, required=False)
    where, where_document = data.get("where"), data.get("where_document")
    if ids is not None and not ids and not where and not where_document:
        raise InvalidArgument("Validation error: ids, where: Either ids or where must be specified")
    return DeleteWrite(ids, where or None, where_document or None)


# ---------------------------------------------------------------- merge semantics


def _column(values: list[Any] | None, index: int) -> Any:
    return None if values is None else values[index]


def merge_metadata(old: Metadata | None, new: Metadata | None) -> Metadata | None:
    """Chroma's update/upsert merge: new keys win, a None (or []) value deletes the key."""
    if new is None:
        return old
    merged = dict(old or {})
    for key, value in new.items():
        if value is None or value == []:  # an empty list is accepted and removes the key too
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged or None


def _fresh(write: RecordWrite, index: int) -> Record:
    return Record(
        id=write.ids[index],
        embedding=_column(write.embeddings, index),
        metadata=merge_metadata(None, _column(write.metadatas, index)),
        document=_column(write.documents, index),
        uri=_column(write.uris, index),
    )


def _merged(old: Record, write: RecordWrite, index: int) -> Record:
    def keep(column: list[Any] | None, current: Any) -> Any:
        value = _column(column, index)
        return current if value is None else value

    return Record(
        id=old.id,
        embedding=keep(write.embeddings, old.embedding),
        metadata=merge_metadata(old.metadata, _column(write.metadatas, index)),
        document=keep(write.documents, old.document),
        uri=keep(write.uris, old.uri),
    )


def apply_write(existing: dict[str, Record], write: RecordWrite) -> list[Record]:
    """The full images ``write`` leaves behind, given the stored records it touches.

    Returns only the records that change, in the order first touched, each once.
    """
    current = dict(existing)
    changed: dict[str, Record] = {}
    for index, record_id in enumerate(write.ids):
        old = current.get(record_id)
        if write.op == "add":
            new = None if old is not None else _fresh(write, index)
        elif write.op == "update":
            new = None if old is None else _merged(old, write, index)
        else:
            new = _fresh(write, index) if old is None else _merged(old, write, index)
        if new is not None:
            current[record_id] = changed[record_id] = new
    return list(changed.values())


def delete_answer(write: DeleteWrite, matched: int) -> bytes:
    """``{"deleted": n}``: ids sent (duplicates too) or, with a filter, rows matched."""
    count = matched if write.by_filter else len(write.ids or [])
    return orjson.dumps({"deleted": count})
