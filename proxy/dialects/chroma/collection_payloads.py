"""Chroma 1.5.9's collection-write bodies: parsed and checked as its server does.

``POST .../collections`` (CreateCollectionPayload) and ``PUT .../collections/{id}``
(UpdateCollectionPayload) are read by :mod:`proxy.dialects.chroma.body_shapes` (serde's errors,
400 / 422), then checked in Chroma's order (observed, pinned in
tests/cutover/test_finalized_collections_wire.py):

create: body -> "Multiple vector index configurations provided" (hnsw and spann) ->
the legacy ``hnsw:*`` metadata keys (always parsed, even when the configuration wins:
"Failed to parse hnsw parameters from segment metadata") -> name and metadata
("Validation error: name: ...", several joined by a newline) -> (caller) database,
existence.  modify: body -> (caller) collection id, lookup -> "Multiple ..." ->
``new_name`` / ``new_metadata`` -> (caller) name clash.

Chroma lists several validation errors in a random order (a HashMap); they come here
name first.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from proxy.dialects.chroma import body_shapes as s
from proxy.dialects.chroma.body import Reader, Unplaced

SPACES = ("l2", "cosine", "ip")
HNSW_DEFAULTS: dict[str, Any] = {"space": "l2", "ef_construction": 100, "ef_search": 100,
                                 "max_neighbors": 16, "resize_factor": 1.2,
                                 "sync_threshold": 1000, "batch_size": 100}  # fmt: skip
LEGACY_KEYS = {"hnsw:space": "space", "hnsw:construction_ef": "ef_construction",
               "hnsw:search_ef": "ef_search", "hnsw:M": "max_neighbors",
               "hnsw:num_threads": "num_threads", "hnsw:resize_factor": "resize_factor",
               "hnsw:sync_threshold": "sync_threshold",
               "hnsw:batch_size": "batch_size"}  # fmt: skip
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]")
I64 = (-(2**63), 2**63 - 1)


class Refused(Exception):
    """A request Chroma refuses after reading it: ``status``, error ``name``, ``message``."""

    def __init__(self, status: int, name: str, message: str) -> None:
        super().__init__(message)
        self.status, self.name, self.message = status, name, message


def invalid(message: str) -> Refused:
    return Refused(400, "InvalidArgumentError", message)


# -- shapes -------------------------------------------------------------------------
def _metadata_value(allow_null: bool) -> s.Shape:
    def accept(value: Any) -> Any:
        if value is None and not allow_null:
            raise ValueError
        if isinstance(value, int) and not isinstance(value, bool):
            return value if I64[0] <= value <= I64[1] else float(value)  # u64 -> f64
        if isinstance(value, list) and _uniform(value):
            return value
        if isinstance(value, dict) and set(value) == {"indices", "values"}:
            return value  # a sparse vector
        if value is None or isinstance(value, bool | float | str):
            return value
        raise ValueError

    return s.untagged("UpdateMetadataValue" if allow_null else "MetadataValue", accept)


def _uniform(items: list[Any]) -> bool:
    kinds = {"bool" if isinstance(v, bool) else "num" if isinstance(v, int | float)
             else "str" if isinstance(v, str) else "other" for v in items}  # fmt: skip
    return len(kinds) <= 1 and "other" not in kinds


def _known(content: dict[str, Any], path: list[str]) -> dict[str, Any]:
    for key, value in content.items():
        if key == "name" and not isinstance(value, str):
            raise Unplaced(f"invalid type: {s.kind_of(value)}, expected a string", path)
    for key in ("name", "config"):
        if key not in content:
            raise Unplaced(f"missing field `{key}`", path)
    return {"type": "known", "name": content["name"], "config": content["config"]}


EMBEDDING_FUNCTION = s.option(s.tagged("EmbeddingFunctionConfiguration", {
    "legacy": lambda content, path: {"type": "legacy"},
    "known": _known,
    "unknown": lambda content, path: {"type": "unknown"},
}))  # fmt: skip
USIZE, U32 = s.option(s.unsigned("usize")), s.option(s.unsigned("u32"))
SPACE = s.option(s.unit_enum(SPACES))
HNSW = s.struct("HnswConfiguration", {
    "space": SPACE, "ef_construction": USIZE, "ef_search": USIZE, "max_neighbors": USIZE,
    "num_threads": USIZE, "resize_factor": s.option(s.double), "sync_threshold": USIZE,
    "batch_size": USIZE}, deny_unknown=True)  # fmt: skip
SPANN = s.struct("SpannConfiguration", {
    "search_nprobe": U32, "write_nprobe": U32, "space": SPACE, "ef_construction": USIZE,
    "ef_search": USIZE, "max_neighbors": USIZE, "reassign_neighbor_count": U32,
    "split_threshold": U32, "merge_threshold": U32}, deny_unknown=True)  # fmt: skip
SCHEMA = s.struct("Schema", {"defaults": lambda r: r.value(), "keys": lambda r: r.value()},
                  required=("defaults", "keys"))  # fmt: skip
CREATE = s.struct("CreateCollectionPayload", {
    "name": s.text,
    "configuration": s.option(s.struct("CollectionConfiguration", {
        "hnsw": s.option(HNSW), "spann": s.option(SPANN),
        "embedding_function": EMBEDDING_FUNCTION})),
    "schema": s.option(SCHEMA),
    "metadata": s.option(s.map_of(_metadata_value(allow_null=False))),
    "get_or_create": s.flag}, required=("name",))  # fmt: skip
UPDATE = s.struct("UpdateCollectionPayload", {
    "new_name": s.option(s.text),
    "new_metadata": s.option(s.map_of(_metadata_value(allow_null=True))),
    "new_configuration": s.option(s.struct("UpdateCollectionConfiguration", {
        "hnsw": s.option(s.struct("UpdateHnswConfiguration", {
            "ef_search": USIZE, "max_neighbors": USIZE, "num_threads": USIZE,
            "resize_factor": s.option(s.double), "sync_threshold": USIZE,
            "batch_size": USIZE}, deny_unknown=True)),
        "spann": s.option(s.struct("UpdateSpannConfiguration", {
            "search_nprobe": U32, "ef_search": USIZE}, deny_unknown=True)),
        "embedding_function": EMBEDDING_FUNCTION}))})  # fmt: skip


def _read(shape: s.Shape, body: bytes) -> dict[str, Any]:
    reader = Reader(body)
    fields: dict[str, Any] = shape(reader)
    reader.end()
    return fields


# -- requests -----------------------------------------------------------------------
@dataclass(frozen=True)
class CreateRequest:
    """A readable, valid create: ``hnsw`` is the index configuration Chroma resolves."""

    name: str
    metadata: dict[str, Any] | None
    get_or_create: bool
    hnsw: dict[str, Any]  # space, ef_*, max_neighbors, resize_factor, sync/batch, num_threads?
    embedding_function: dict[str, Any] | None
    schema_given: bool


@dataclass(frozen=True)
class ModifyRequest:
    """A readable modify (checks that need the collection are made by the caller)."""

    new_name: str | None
    new_metadata: dict[str, Any] | None
    hnsw: dict[str, Any]  # the hnsw fields to change
    embedding_function: dict[str, Any] | None
    both_indexes: bool = False  # hnsw and spann: refused once the collection is found


def parse_create(body: bytes) -> CreateRequest:
    """A create body, or BodyRejected / Refused with Chroma's answer."""
    fields = _read(CREATE, body)
    config = fields.get("configuration") or {}
    hnsw, spann = config.get("hnsw"), config.get("spann")
    if hnsw is not None and spann is not None:
        raise invalid("Multiple vector index configurations provided")
    metadata = fields.get("metadata")
    resolved = legacy_hnsw(metadata or {})
    if hnsw is not None:
        resolved = {**HNSW_DEFAULTS, **{k: v for k, v in hnsw.items() if v is not None}}
    elif spann is not None:  # a single-node server builds hnsw, keeping only the space
        resolved = {**HNSW_DEFAULTS, "space": spann.get("space") or "l2"}
    resolved["resize_factor"] = float(resolved["resize_factor"])
    _validate([("name", name_error(fields["name"])), ("metadata", _metadata_error(metadata))])
    return CreateRequest(fields["name"], metadata, bool(fields.get("get_or_create")), resolved,
                         config.get("embedding_function"), fields.get("schema") is not None)


def parse_modify(body: bytes) -> ModifyRequest:
    """A modify body (serde errors only; see :func:`check_modify`)."""
    fields = _read(UPDATE, body)
    config = fields.get("new_configuration") or {}
    hnsw = {k: v for k, v in (config.get("hnsw") or {}).items() if v is not None}
    if "resize_factor" in hnsw:
        hnsw["resize_factor"] = float(hnsw["resize_factor"])
    both = config.get("hnsw") is not None and config.get("spann") is not None
    return ModifyRequest(fields.get("new_name"), fields.get("new_metadata"), hnsw,
                         config.get("embedding_function"), both)


def check_modify(request: ModifyRequest) -> None:
    """The checks Chroma makes once the collection is known to exist."""
    if request.both_indexes:
        raise invalid("Multiple vector index configurations provided")
    new_name = None if request.new_name is None else name_error(request.new_name)
    _validate([("new_name", new_name), ("new_metadata", _metadata_error(request.new_metadata))])


def legacy_hnsw(metadata: dict[str, Any]) -> dict[str, Any]:
    """The hnsw configuration the legacy ``hnsw:*`` metadata keys give (defaults besides)."""
    resolved = dict(HNSW_DEFAULTS)
    for key, value in metadata.items():
        if not key.startswith("hnsw:"):
            continue
        field = LEGACY_KEYS.get(key)
        if field is None or not _legacy_value_ok(field, value):
            raise invalid("Failed to parse hnsw parameters from segment metadata")
        resolved[field] = value
    if resolved["sync_threshold"] < 2 or resolved["batch_size"] < 2:
        raise invalid("Failed to parse hnsw parameters from segment metadata")
    return resolved


def _legacy_value_ok(field: str, value: Any) -> bool:
    if field == "space":
        return value in SPACES
    if isinstance(value, bool):
        return False
    if field == "resize_factor":
        return isinstance(value, int | float)
    return isinstance(value, int) and value >= 0


def _validate(errors: list[tuple[str, str | None]]) -> None:
    found = [f"{field}: {error}" for field, error in errors if error is not None]
    if found:
        raise invalid("Validation error: " + "\n".join(found))


def name_error(name: str) -> str | None:
    if not _NAME.fullmatch(name):
        return ("Expected a name containing 3-512 characters from [a-zA-Z0-9._-], starting "
                f"and ending with a character in [a-zA-Z0-9]. Got: {name}")  # fmt: skip
    if ".." in name:
        return f"Expected a name that does not contains two consecutive periods (..). Got {name}"
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return None
    return f"Expected a name that is not a valid ip address. Got {name}"


def _metadata_error(metadata: dict[str, Any] | None) -> str | None:
    if metadata is None:
        return None
    if not metadata:
        return "Metadata cannot be empty"
    for key in metadata:
        if not key:
            return "Metadata key cannot be empty"
        if key[0] in "#$":
            return f"Metadata key cannot start with '#' or '$': {key}"
    return None


def unstorable(metadata: dict[str, Any] | None) -> bool:
    """Values Chroma 1.5.9 accepts but cannot store in collection metadata (lists, sparse
    vectors): its server panics and drops the connection."""
    return any(isinstance(v, list | dict) for v in (metadata or {}).values())
