"""Chroma 1.5.9's collection object for a new or modified collection, built here.

Observed on ``chroma run`` 1.5.9 (pinned in tests/cutover/test_finalized_collections_wire.py):

* ``configuration_json`` is ``{"hnsw": {space, ef_construction, ef_search, max_neighbors,
  resize_factor, sync_threshold}, "spann": null, "embedding_function": EF or null}``: a
  single node always builds an hnsw index (a spann request keeps only its space).
* ``schema`` holds the same index twice (``defaults.float_list`` disabled and
  ``keys["#embedding"]`` enabled, with ``source_key: "#document"``), with two more hnsw
  fields, ``num_threads`` and ``batch_size``; ``embedding_function`` is there only when
  not null. The rest (string, int, float, bool inverted indexes, ``#document`` full
  text, the sparse index) is constant.
* ``num_threads`` defaults to the Chroma host's available parallelism; this module uses
  the proxy host's (the same box in the usual sidecar setup).
* A modify changes ``ef_search``, ``max_neighbors``, ``resize_factor``,
  ``sync_threshold`` (both places), ``num_threads`` / ``batch_size`` (schema only) and
  replaces the embedding function (everywhere); a spann change of an hnsw collection is
  ignored; metadata is replaced whole (null values dropped; nothing left reads null).

Not reproduced: a create carrying a ``schema`` (Chroma merges it with the
configuration; here the object is built as if no schema had been sent).
"""

from __future__ import annotations

import copy
import os
from typing import Any

from adapters.base import CollectionSpec
from proxy.dialects.chroma.collection_payloads import HNSW_DEFAULTS, CreateRequest, ModifyRequest

CONFIG_HNSW = ("space", "ef_construction", "ef_search", "max_neighbors", "resize_factor",
               "sync_threshold")  # fmt: skip
SCHEMA_HNSW = ("ef_construction", "max_neighbors", "ef_search", "num_threads", "batch_size",
               "sync_threshold", "resize_factor")  # fmt: skip
MODIFIABLE_IN_CONFIG = ("ef_search", "max_neighbors", "resize_factor", "sync_threshold")


def default_num_threads() -> int:
    """Rust's ``available_parallelism`` as closely as Python sees it (CPU affinity)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _index(enabled: bool, hnsw: dict[str, Any], ef: dict[str, Any] | None,
           source_key: bool) -> dict[str, Any]:  # fmt: skip
    config: dict[str, Any] = {"space": hnsw["space"]}
    if ef is not None:
        config["embedding_function"] = ef
    if source_key:
        config["source_key"] = "#document"
    config["hnsw"] = {k: hnsw[k] for k in SCHEMA_HNSW}
    return {"vector_index": {"enabled": enabled, "config": config}}


def _flag(enabled: bool) -> dict[str, Any]:
    return {"enabled": enabled, "config": {}}


def schema_for(hnsw: dict[str, Any], ef: dict[str, Any] | None) -> dict[str, Any]:
    """The ``schema`` Chroma stores for a collection with this index."""
    sparse = {"enabled": False, "config": {"embedding_function": {"type": "unknown"},
                                           "bm25": False}}  # fmt: skip
    return {
        "defaults": {
            "string": {"fts_index": _flag(False), "string_inverted_index": _flag(True)},
            "float_list": _index(False, hnsw, ef, source_key=False),
            "sparse_vector": {"sparse_vector_index": sparse},
            "int": {"int_inverted_index": _flag(True)},
            "float": {"float_inverted_index": _flag(True)},
            "bool": {"bool_inverted_index": _flag(True)},
        },
        "keys": {
            "#document": {"string": {"fts_index": _flag(True),
                                     "string_inverted_index": _flag(False)}},
            "#embedding": {"float_list": _index(True, hnsw, ef, source_key=True)},
        },
    }  # fmt: skip


def configuration_for(hnsw: dict[str, Any], ef: dict[str, Any] | None) -> dict[str, Any]:
    return {"hnsw": {k: hnsw[k] for k in CONFIG_HNSW}, "spann": None, "embedding_function": ef}


def new_object(request: CreateRequest, collection_id: str, tenant: str, database: str,
               num_threads: int) -> dict[str, Any]:  # fmt: skip
    """Chroma's object for a collection it has just created."""
    hnsw = {"num_threads": num_threads, **request.hnsw}
    ef = request.embedding_function
    return {
        "id": collection_id, "name": request.name,
        "configuration_json": configuration_for(hnsw, ef), "schema": schema_for(hnsw, ef),
        "metadata": request.metadata or None, "dimension": None, "tenant": tenant,
        "database": database, "log_position": 0, "version": 0,
    }  # fmt: skip


def modified_object(current: dict[str, Any], request: ModifyRequest) -> dict[str, Any]:
    """``current`` after a modify Chroma accepted."""
    obj = copy.deepcopy(current)
    if request.new_name is not None:
        obj["name"] = request.new_name
    if request.new_metadata is not None:
        kept = {k: v for k, v in request.new_metadata.items() if v is not None}
        obj["metadata"] = kept or None
    config = obj.get("configuration_json") or {}
    hnsw = config.get("hnsw")
    if isinstance(hnsw, dict):
        hnsw.update((k, v) for k, v in request.hnsw.items() if k in MODIFIABLE_IN_CONFIG)
    if request.embedding_function is not None:
        config["embedding_function"] = request.embedding_function
    for index in _schema_indexes(obj.get("schema")):
        index.setdefault("hnsw", {}).update(request.hnsw)
        if request.embedding_function is not None:
            index["embedding_function"] = request.embedding_function
    return obj


def _schema_indexes(schema: Any) -> list[dict[str, Any]]:
    """The two vector index configs of a schema (whatever of them is there)."""
    if not isinstance(schema, dict):
        return []
    places = [schema.get("defaults"), (schema.get("keys") or {}).get("#embedding")]
    found = []
    for place in places:
        config = (((place or {}).get("float_list") or {}).get("vector_index") or {}).get("config")
        if isinstance(config, dict):
            found.append(config)
    return found


def synthesized_object(spec: CollectionSpec, num_threads: int) -> dict[str, Any]:
    """An object for a spec whose Chroma object was never captured (older catalogs):
    rebuilt from its configuration (or its space) with Chroma's defaults."""
    config = spec.configuration or {}
    hnsw = {**HNSW_DEFAULTS, "space": spec.space.value, "num_threads": num_threads,
            **(config.get("hnsw") or {})}  # fmt: skip
    ef = config.get("embedding_function")
    return {
        "id": spec.source_id, "name": spec.key.name,
        "configuration_json": configuration_for(hnsw, ef), "schema": schema_for(hnsw, ef),
        "metadata": spec.metadata or None, "dimension": spec.dimension,
        "tenant": spec.key.tenant, "database": spec.key.database,
        "log_position": 0, "version": 0,
    }  # fmt: skip
