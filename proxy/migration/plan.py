"""``vecbridge plan``: the pre-migration inventory and the checklist's assessment.

For each collection: count, dimension, space, metadata keys (types, fill rate),
documents and uris present, id formats, measured from a sample of the first records;
the complexity assessment (vector count, metadata shape, embedding model, downtime
tolerance, filter usage); the Qdrant collection the migration will create; and the
backfill time, estimated from reading and writing a short measured sample (written to
a scratch collection of the target, dropped afterwards).
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from typing import Any

from adapters import qdrant_layout as layout
from adapters.base import CollectionKey, CollectionSpec, Record, VectorStore
from proxy.migration.transfer import embedding_model

SAMPLE = 500
PROBE = CollectionKey("vecbridge-plan-probe")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


def id_format(rid: str) -> str:
    if _UUID.match(rid):
        return "uuid"
    if rid.isdigit():
        return "integer"
    return "string"


def _type_name(value: Any) -> str:
    if isinstance(value, list):
        inner = {_type_name(v) for v in value}
        return f"list[{'|'.join(sorted(inner))}]"
    return type(value).__name__


def profile(records: list[Record]) -> dict[str, Any]:
    """Metadata keys with types and fill rate, documents/uris share, id formats."""
    n = max(1, len(records))
    types: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        for key, value in (record.metadata or {}).items():
            types[key][_type_name(value)] += 1
    keys = {k: {"types": sorted(c), "fill_rate": round(sum(c.values()) / n, 3)}
            for k, c in sorted(types.items())}
    return {
        "sampled": len(records), "metadata_keys": keys,
        "documents_present": round(sum(r.document is not None for r in records) / n, 3),
        "uris_present": round(sum(r.uri is not None for r in records) / n, 3),
        "id_formats": dict(Counter(id_format(r.id) for r in records)),
    }  # fmt: skip


def assess(spec: CollectionSpec, count: int, prof: dict[str, Any]) -> dict[str, str]:
    """The migration checklist, answered for this collection."""
    size = "small" if count < 100_000 else "medium" if count < 10_000_000 else "large"
    keys = prof["metadata_keys"]
    lists = [k for k, v in keys.items() if any(t.startswith("list") for t in v["types"])]
    mixed = [k for k, v in keys.items() if len(v["types"]) > 1]
    shape = "flat" if not lists and not mixed else (
        f"lists in {lists}" if lists else "") + (f" mixed types in {mixed}" if mixed else "")
    model = embedding_model(spec)
    return {
        "vector_count": f"{count} ({size})",
        "metadata_shape": f"{len(keys)} keys, {shape.strip()}",
        "embedding_model": (f"same model ({model}): vectors are copied, no re-embedding"
                            if model else "same model assumed: vectors are copied as they are"),
        "downtime_tolerance": "zero: the proxy dual-writes while the backfill copies",
        "filter_usage": ("metadata filters translate to payload filters; list-valued keys "
                         "keep Chroma's $eq semantics" if keys else "no metadata: no filters"),
        "complexity": "low" if size == "small" and not mixed else
                      "medium" if size != "large" else "high",
    }


def target_settings(spec: CollectionSpec) -> dict[str, Any]:
    """The Qdrant collection the migration creates for ``spec``."""
    return {
        "collection": layout.collection_name(spec.key),
        "vectors": {"size": spec.dimension,
                    "distance": layout.DISTANCE_BY_SPACE[spec.space]},
        "payload_index": {layout.ID_FIELD: "keyword"},
        "point_ids": "uuid5 of the Chroma id (original kept in payload.chroma_id)",
    }


async def plan_collection(source: VectorStore, target: VectorStore | None,
                          spec: CollectionSpec) -> dict[str, Any]:
    """Inventory, assessment, target settings and the estimate for one collection."""
    count = await source.count(spec.key)
    began = time.perf_counter()
    page = await source.scroll(spec.key, None, SAMPLE)
    read_rate = len(page.records) / max(time.perf_counter() - began, 1e-6)
    dimension = spec.dimension or next(
        (len(r.embedding) for r in page.records if r.embedding is not None), None)
    spec = spec if dimension is None else spec.with_dimension(dimension)
    prof = profile(page.records)
    write_rate = await _write_rate(target, spec, page.records)
    rate = min(read_rate, write_rate) if write_rate else read_rate
    return {
        "collection": str(spec.key), "count": count, "dimension": dimension,
        "space": spec.space.value, "embedding_model": embedding_model(spec), **prof,
        "assessment": assess(spec, count, prof), "target": target_settings(spec),
        "estimate": {"read_records_per_second": round(read_rate),
                     "write_records_per_second": None if write_rate is None
                     else round(write_rate),
                     "backfill_seconds": round(count / rate, 1) if rate else None},
    }  # fmt: skip


async def _write_rate(target: VectorStore | None, spec: CollectionSpec,
                      records: list[Record]) -> float | None:
    """Records/s of upserting the sample into a scratch collection (dropped after)."""
    records = [r for r in records if r.embedding is not None]
    if target is None or not records:
        return None
    probe = CollectionSpec(PROBE, spec.space, spec.dimension)
    try:
        began = time.perf_counter()
        await target.upsert(probe, records)
        return len(records) / max(time.perf_counter() - began, 1e-6)
    finally:
        await target.delete_collection(PROBE)
