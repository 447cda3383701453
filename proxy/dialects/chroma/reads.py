"""Chroma v2 dialect for reads: request bodies in, Chroma JSON answers out.

``parse_get`` / ``parse_query`` turn the JSON body of ``POST .../get`` / ``.../query``
into engine-neutral requests (plus the ``include`` list, which only shapes the answer);
``render_get`` / ``render_query`` / ``render_count`` build the exact JSON Chroma 1.5.9
returns (captured from a real server, pinned in tests/reads/test_chroma_reads_wire.py);
``render_error`` gives ``(status, body)`` of a Chroma error, whose ``error`` name is what
the chromadb client turns into its exception class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from adapters.base import CollectionMissing, GetRequest, Hit, QueryRequest, Record
from adapters.chroma_filter import InvalidArgument
from adapters.qdrant_reads import ChromaInternalError

INCLUDE_VALUES = ("distances", "documents", "embeddings", "metadatas", "uris")
GET_DEFAULT_INCLUDE = ("documents", "metadatas")
QUERY_DEFAULT_INCLUDE = ("documents", "metadatas", "distances")
U32_MAX = 2**32 - 1


class BodyError(Exception):
    """A body Chroma cannot deserialise: 422 ``ChromaError`` (400 for broken JSON)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class ChromaGet:
    request: GetRequest
    include: tuple[str, ...]


@dataclass(frozen=True)
class ChromaQuery:
    request: QueryRequest
    include: tuple[str, ...]


def _load(body: bytes | dict[str, Any]) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyError(f"Failed to parse the request body as JSON: {exc}", 400) from exc
    if not isinstance(data, dict):
        raise BodyError("Failed to deserialize the JSON body into the target type")
    return data


def _bad(field: str, what: str) -> BodyError:
    return BodyError(f"Failed to deserialize the JSON body into the target type: {field}: {what}")


def _u32(data: dict[str, Any], field: str, default: int | None) -> int | None:
    value = data.get(field)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= U32_MAX:
        raise _bad(field, f"invalid value: {value!r}, expected u32")
    return value


def _include(data: dict[str, Any], default: tuple[str, ...]) -> tuple[str, ...]:
    if "include" not in data:
        return default
    value = data["include"]
    if not isinstance(value, list):
        raise _bad("include", "invalid type, expected a sequence")
    for item in value:
        if item not in INCLUDE_VALUES:
            raise _bad("include", f"unknown variant `{item}`")
    return tuple(value)


def _ids(data: dict[str, Any]) -> list[str] | None:
    value = data.get("ids")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(i, str) for i in value):
        raise _bad("ids", "invalid type, expected a sequence of strings")
    return value


def _filters(data: dict[str, Any]) -> tuple[Any, Any]:
    # Shape is checked later by chroma_filter (400 InvalidArgumentError, as Chroma does).
    return data.get("where"), data.get("where_document")


def parse_get(body: bytes | dict[str, Any]) -> ChromaGet:
    """The body of ``POST .../collections/{id}/get``."""
    data = _load(body)
    include = _include(data, GET_DEFAULT_INCLUDE)
    where, where_document = _filters(data)
    request = GetRequest(
        ids=_ids(data),
        where=where,
        where_document=where_document,
        limit=_u32(data, "limit", None),
        offset=_u32(data, "offset", 0) or 0,
        with_embeddings="embeddings" in include,
    )
    return ChromaGet(request, include)


def _vectors(data: dict[str, Any]) -> list[np.ndarray[Any, np.dtype[np.float32]]]:
    if "query_embeddings" not in data:
        raise _bad("query_embeddings", "missing field `query_embeddings`")
    value = data["query_embeddings"]
    if not isinstance(value, list) or not all(_is_float_list(v) for v in value):
        raise _bad("query_embeddings", "invalid type, expected a sequence of float sequences")
    return [np.asarray(v, dtype=np.float32) for v in value]


def _is_float_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in value
    )


def parse_query(body: bytes | dict[str, Any], exact: bool = False) -> ChromaQuery:
    """The body of ``POST .../collections/{id}/query``."""
    data = _load(body)
    include = _include(data, QUERY_DEFAULT_INCLUDE)
    where, where_document = _filters(data)
    request = QueryRequest(
        vectors=_vectors(data),
        k=_u32(data, "n_results", 10) or 0,
        where=where,
        where_document=where_document,
        ids=_ids(data),
        with_embeddings="embeddings" in include,
        exact=exact,
    )
    return ChromaQuery(request, include)


# ---------------------------------------------------------------- answers


def _columns(records: Sequence[Record], include: Sequence[str]) -> dict[str, Any]:
    def column(name: str, values: list[Any]) -> list[Any] | None:
        return values if name in include else None

    return {
        "ids": [r.id for r in records],
        "embeddings": column("embeddings", [_vector(r.embedding) for r in records]),
        "documents": column("documents", [r.document for r in records]),
        "uris": column("uris", [r.uri for r in records]),
        "metadatas": column("metadatas", [r.metadata for r in records]),
    }


def _vector(embedding: Any) -> Any:
    return None if embedding is None else np.asarray(embedding, dtype=np.float32)


def get_answer(records: Sequence[Record], include: Sequence[str]) -> dict[str, Any]:
    """The JSON object Chroma answers a ``get`` with."""
    return {**_columns(records, include), "include": list(include)}


def query_answer(hits: Sequence[Sequence[Hit]], include: Sequence[str]) -> dict[str, Any]:
    """The JSON object Chroma answers a ``query`` with: one inner list per query vector."""
    per_query = [_columns([h.record for h in row], include) for row in hits]
    answer: dict[str, Any] = {
        name: [c[name] for c in per_query] if name == "ids" or name in include else None
        for name in ("ids", "embeddings", "documents", "uris", "metadatas")
    }
    distances = [[h.distance for h in row] for row in hits]
    answer["distances"] = distances if "distances" in include else None
    answer["include"] = list(include)
    return answer


def dumps(answer: Any) -> bytes:
    """Chroma-compatible JSON bytes (numpy float32 vectors as plain float arrays)."""
    return orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)


def render_get(records: Sequence[Record], include: Sequence[str]) -> bytes:
    return dumps(get_answer(records, include))


def render_query(hits: Sequence[Sequence[Hit]], include: Sequence[str]) -> bytes:
    return dumps(query_answer(hits, include))


def render_count(count: int) -> bytes:
    """``GET .../count`` answers a bare integer."""
    return dumps(count)


def render_error(exc: BaseException, collection: str = "") -> tuple[int, bytes]:
    """``(status, body)`` of the Chroma error for ``exc`` (unknown errors: 500)."""
    if isinstance(exc, BodyError):
        name, status, message = "ChromaError", exc.status, exc.message
        if status == 400:
            name = "InvalidArgumentError"
    elif isinstance(exc, InvalidArgument):
        name, status, message = "InvalidArgumentError", 400, exc.message
    elif isinstance(exc, ChromaInternalError):
        name, status, message = "InternalError", 500, exc.message
    elif isinstance(exc, CollectionMissing):
        name, status, message = "NotFoundError", 404, f"Collection [{collection}] does not exist."
    else:
        name, status, message = "InternalError", 500, str(exc) or type(exc).__name__
    return status, orjson.dumps({"error": name, "message": message})
