"""Chroma v2 collection-level reads in Chroma's format: get, list, count of collections.

Observed on chromadb 1.5.9 (pinned in tests/reads/test_collection_reads_wire.py):

* A collection object is ``{"id", "name", "configuration_json", "schema", "metadata",
  "dimension", "tenant", "database", "log_position", "version"}``. ``metadata`` is null
  when empty, ``dimension`` null until the first add. The single-node server always
  answers ``log_position`` 0 and ``version`` 0 (its SQLite catalog keeps neither).
* ``list`` is ordered by collection UUID; ``limit``/``offset`` (u32 query parameters)
  apply in that order. An unknown tenant or database lists ``[]`` and counts ``0``.
* A malformed ``limit``/``offset`` is a 400 ``InvalidArgumentError`` "Failed to
  deserialize query string: ..." (Rust's u32 parse messages, first bad pair wins).
* ``get`` of an unknown name (or in an unknown tenant/database) is a 404
  ``NotFoundError`` "Collection [name] does not exist" (the chromadb client raises
  ``chromadb.errors.NotFoundError``).

The object is rebuilt from the target's catalog spec: its ``source_object`` (Chroma's
whole JSON as captured at the last collection write or backfill) supplies ``schema``
and anything else only Chroma knows; the spec's own fields (id, name, scope, metadata,
configuration, dimension) override their copies there, because the applier keeps them
current (``dimension`` is learnt at the first record write, with no collection write).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import orjson

from adapters.base import CollectionSpec

U32_MAX = 2**32 - 1
# Chroma's key order, so a rendered object reads like Chroma's (content is what counts).
OBJECT_KEYS = (
    "id", "name", "configuration_json", "schema", "metadata", "dimension",
    "tenant", "database", "log_position", "version",
)  # fmt: skip


class QueryStringError(Exception):
    """A query string Chroma refuses: 400 ``InvalidArgumentError``."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.message = f"Failed to deserialize query string: {detail}"


@dataclass(frozen=True)
class ListParams:
    """``GET .../collections`` paging: ``limit`` None means all."""

    limit: int | None = None
    offset: int = 0


def _u32(text: str) -> int:
    """Rust's ``u32::from_str``, with its error messages."""
    digits = text[1:] if text.startswith("+") else text
    if not text:
        raise ValueError("cannot parse integer from empty string")
    if not digits.isascii() or not digits.isdigit():
        raise ValueError("invalid digit found in string")
    value = int(digits)
    if value > U32_MAX:
        raise ValueError("number too large to fit in target type")
    return value


def parse_list_params(query_string: str) -> ListParams:
    """``limit``/``offset`` of a list request (other parameters are ignored, as Chroma does)."""
    found: dict[str, int] = {}
    for pair in query_string.split("&") if query_string else []:
        raw_key, _, raw_value = pair.partition("=")
        key = unquote_plus(raw_key)
        if key not in ("limit", "offset"):
            continue
        if key in found:
            raise QueryStringError(f"duplicate field `{key}`")
        try:
            found[key] = _u32(unquote_plus(raw_value))
        except ValueError as exc:
            raise QueryStringError(f"{key}: {exc}") from exc
    return ListParams(found.get("limit"), found.get("offset", 0))


def query_string(path_qs: str) -> str:
    """The raw query string of a request target ("" when there is none)."""
    return path_qs.partition("?")[2]


def collection_object(spec: CollectionSpec) -> dict[str, Any] | None:
    """Chroma's JSON object for ``spec``; None when the spec has no captured object."""
    captured = spec.source_object
    if not captured or spec.source_id is None:
        return None
    current = {
        "id": spec.source_id,
        "name": spec.key.name,
        "metadata": spec.metadata or None,  # Chroma has no empty metadata: it reads null
        "dimension": spec.dimension,
        "tenant": spec.key.tenant,
        "database": spec.key.database,
        # Chroma's single-node catalog does not keep these counters: always 0.
        "log_position": 0,
        "version": 0,
    }
    if spec.configuration is not None:
        current["configuration_json"] = spec.configuration
    merged = {**captured, **current}
    ordered = {key: merged.get(key) for key in OBJECT_KEYS}
    ordered.update((k, v) for k, v in merged.items() if k not in ordered)
    return ordered


def in_scope(specs: Iterable[CollectionSpec], tenant: str, database: str) -> list[CollectionSpec]:
    """The specs of one tenant/database, in Chroma's list order (by collection UUID)."""
    scoped = [s for s in specs if (s.key.tenant, s.key.database) == (tenant, database)]
    return sorted(scoped, key=_uuid_order)


def _uuid_order(spec: CollectionSpec) -> tuple[int, bytes, str]:
    try:
        return (0, uuid.UUID(spec.source_id or "").bytes, "")
    except ValueError:  # not a UUID: after every real one, by text
        return (1, b"", spec.source_id or "")


def page(specs: Sequence[CollectionSpec], params: ListParams) -> list[CollectionSpec]:
    """``offset``/``limit`` applied to an already ordered list."""
    end = None if params.limit is None else params.offset + params.limit
    return list(specs[params.offset : end])


def render_collection(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj)


def render_list(objects: Sequence[dict[str, Any]]) -> bytes:
    return orjson.dumps(list(objects))


def render_count(count: int) -> bytes:
    """``GET .../collections_count`` answers a bare integer."""
    return orjson.dumps(count)


def not_found(name: str) -> tuple[int, bytes]:
    """Chroma's answer to ``GET .../collections/{name}`` for a collection it lacks."""
    body = {"error": "NotFoundError", "message": f"Collection [{name}] does not exist"}
    return 404, orjson.dumps(body)


def query_error(exc: QueryStringError) -> tuple[int, bytes]:
    return 400, orjson.dumps({"error": "InvalidArgumentError", "message": exc.message})
