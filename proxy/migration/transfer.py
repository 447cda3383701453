"""Export and import: a collection through files, between any two supported stores.

Formats: JSONL (one record per line: ``id``, ``embedding`` as floats, ``metadata``,
``document``, ``uri``) and Parquet (``id``, ``embedding`` as fixed-size float32 lists,
``metadata`` as JSON text, ``document``, ``uri``; one row group per page). float32
values survive both bit for bit. Next to the data file, ``<file>.meta.json`` holds
the collection's name, space, dimension, metadata, embedding model (when known) and
the record count.

Both directions stream: memory stays bounded by one page (export) or one wave of
parallel batches (import) whatever the collection size. Import checks the whole file
before writing anything (a truncated line or a wrong dimension fails with the file and
line, and nothing is written), and then checkpoints the rows done in
``<file>.import.json``, so a killed import resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from adapters.base import CollectionKey, CollectionSpec, Record, Space, VectorStore

PAGE = 1000
Progress = Callable[[int, int], None]  # (done, total)


class TransferError(RuntimeError):
    """Bad input file or collection; the message names the file (and line) or collection."""


def meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def file_format(path: Path, given: str | None) -> str:
    fmt = given or ("parquet" if path.suffix in (".parquet", ".pq") else "jsonl")
    if fmt not in ("jsonl", "parquet"):
        raise TransferError(f"unknown format {fmt!r} (jsonl or parquet)")
    return fmt


def embedding_model(spec: CollectionSpec) -> str | None:
    """The embedding model's name when the collection says it (metadata or configuration)."""
    for key in ("embedding_model", "model", "embedding_function"):
        value = (spec.metadata or {}).get(key)
        if isinstance(value, str):
            return value
    function = (spec.configuration or {}).get("embedding_function") or {}
    name = function.get("name") if isinstance(function, dict) else None
    return name if isinstance(name, str) else None


# -- export -----------------------------------------------------------------------------

def _parquet_schema(dimension: int) -> pa.Schema:
    return pa.schema([("id", pa.string()), ("embedding", pa.list_(pa.float32(), dimension)),
                      ("metadata", pa.string()), ("document", pa.string()),
                      ("uri", pa.string())])


def _parquet_table(records: list[Record], schema: pa.Schema, dimension: int) -> pa.Table:
    flat = np.concatenate([np.asarray(r.embedding, dtype=np.float32) for r in records])
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), dimension)
    return pa.Table.from_arrays([
        pa.array([r.id for r in records]), vectors,
        pa.array([None if r.metadata is None else orjson.dumps(r.metadata).decode()
                  for r in records], pa.string()),
        pa.array([r.document for r in records], pa.string()),
        pa.array([r.uri for r in records], pa.string())], schema=schema)


def _jsonl_line(record: Record) -> bytes:
    embedding = None if record.embedding is None else record.embedding.tolist()
    return orjson.dumps({"id": record.id, "embedding": embedding, "metadata": record.metadata,
                         "document": record.document, "uri": record.uri}) + b"\n"


async def export_collection(store: VectorStore, name: str, path: Path, fmt: str | None = None,
                            progress: Progress | None = None) -> dict[str, Any]:
    """Stream one collection into ``path`` (+ its meta file); returns the meta."""
    key = CollectionKey(name)
    spec = await store.describe_collection(key)
    if spec is None:
        raise TransferError(f"unknown collection {name!r}")
    fmt, total, count = file_format(path, fmt), await store.count(key), 0
    tmp = path.with_name(path.name + ".partial")
    writer: pq.ParquetWriter | None = None
    dimension = spec.dimension or 0
    with tmp.open("wb") as out:
        cursor: str | None = None
        while True:
            page = await store.scroll(key, cursor, PAGE)
            records = [r for r in page.records if r.embedding is not None]
            if records:
                dimension = dimension or len(records[0].embedding)  # type: ignore[arg-type]
            if fmt == "jsonl":
                out.write(b"".join(_jsonl_line(r) for r in records))
            elif records:
                schema = _parquet_schema(dimension)
                writer = writer or pq.ParquetWriter(out, schema)
                writer.write_table(_parquet_table(records, schema, dimension))
            count += len(records)
            if progress:
                progress(count, total)
            cursor = page.next_cursor
            if cursor is None:
                break
        if writer is not None:
            writer.close()
        elif fmt == "parquet":
            pq.write_table(_parquet_schema(dimension).empty_table(), out)
    os.replace(tmp, path)
    meta = {"collection": name, "format": fmt, "space": spec.space.value,
            "dimension": dimension or None, "metadata": spec.metadata,
            "embedding_model": embedding_model(spec), "count": count}
    meta_path(path).write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))
    return meta


# -- reading files back -----------------------------------------------------------------

@dataclass(frozen=True)
class FileInfo:
    """What a checked input file holds."""

    meta: dict[str, Any]
    fmt: str
    rows: int
    dimension: int | None


def _record_from_json(raw: Any, where: str) -> Record:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        raise TransferError(f"{where}: not a record (needs an 'id' string)")
    embedding = raw.get("embedding")
    vector = None if embedding is None else np.asarray(embedding, dtype=np.float32)
    return Record(raw["id"], vector, raw.get("metadata"), raw.get("document"), raw.get("uri"))


def iter_jsonl(path: Path, skip: int = 0) -> Iterator[Record]:
    with path.open("rb") as source:
        for number, line in enumerate(source, start=1):
            if number <= skip or not line.strip():
                continue
            try:
                raw = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise TransferError(f"{path}:{number}: not valid JSON ({exc})") from None
            yield _record_from_json(raw, f"{path}:{number}")


def iter_parquet(path: Path, skip: int = 0) -> Iterator[Record]:
    seen = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=PAGE):
        if seen + batch.num_rows <= skip:
            seen += batch.num_rows
            continue
        columns = batch.to_pydict()
        vectors = batch.column("embedding")
        for i, rid in enumerate(columns["id"]):
            seen += 1
            if seen <= skip:
                continue
            meta = columns["metadata"][i]
            cell = vectors[i]
            vector = None if not cell.is_valid else np.asarray(cell.values, dtype=np.float32)
            yield Record(rid, vector, None if meta is None else orjson.loads(meta),
                         columns["document"][i], columns["uri"][i])


def check_file(path: Path, fmt: str | None) -> FileInfo:
    """Read the whole file once: every row parses and has the meta file's dimension."""
    if not path.exists():
        raise TransferError(f"{path}: no such file")
    fmt = file_format(path, fmt)
    try:
        meta = orjson.loads(meta_path(path).read_bytes()) if meta_path(path).exists() else {}
    except orjson.JSONDecodeError as exc:
        raise TransferError(f"{meta_path(path)}: not valid JSON ({exc})") from None
    dimension: int | None = meta.get("dimension")
    if fmt == "parquet":
        return _check_count(path, _check_parquet(path, meta, dimension))
    rows = 0
    for rows, record in enumerate(iter_jsonl(path), start=1):
        size = None if record.embedding is None else len(record.embedding)
        dimension = dimension or size
        if size is not None and size != dimension:
            raise TransferError(f"{path}: record {record.id!r} (row {rows}) has dimension "
                                f"{size}, expected {dimension}")
    return _check_count(path, FileInfo(meta, fmt, rows, dimension))


def _check_count(path: Path, info: FileInfo) -> FileInfo:
    """A file cut short at a row boundary parses fine: its meta file's count tells."""
    expected = info.meta.get("count")
    if isinstance(expected, int) and expected != info.rows:
        raise TransferError(f"{path}: {info.rows} rows, but {meta_path(path).name} says "
                            f"{expected}: the file is incomplete, or not the one exported "
                            "with that meta file")
    return info


def _check_parquet(path: Path, meta: dict[str, Any], dimension: int | None) -> FileInfo:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise TransferError(f"{path}: not a readable Parquet file ({exc})") from None
    field = parquet.schema_arrow.field("embedding") if "embedding" in \
        parquet.schema_arrow.names else None
    if field is None or not pa.types.is_fixed_size_list(field.type):
        raise TransferError(f"{path}: no fixed-size 'embedding' column")
    size = int(field.type.list_size)
    if dimension is not None and size != dimension:
        raise TransferError(f"{path}: embedding dimension {size}, expected {dimension} "
                            f"(from {meta_path(path).name})")
    return FileInfo(meta, "parquet", parquet.metadata.num_rows, size)


# -- import -----------------------------------------------------------------------------

def _progress_file(path: Path) -> Path:
    return path.with_name(path.name + ".import.json")


async def import_collection(store: VectorStore, path: Path, name: str | None = None,
                            fmt: str | None = None, batch_size: int = 500,
                            concurrency: int = 4, progress: Progress | None = None
                            ) -> dict[str, Any]:
    """Upsert every record of ``path`` into ``store`` (resuming a killed import)."""
    info = await asyncio.to_thread(check_file, path, fmt)
    name = name or info.meta.get("collection")
    if not name:
        raise TransferError(f"{path}: no collection name (give --collection)")
    spec = CollectionSpec(CollectionKey(name), Space(info.meta.get("space") or "l2"),
                          info.dimension, info.meta.get("metadata"))
    existing = await store.describe_collection(spec.key)
    if existing is not None and existing.dimension not in (None, info.dimension):
        raise TransferError(f"collection {name!r} has dimension {existing.dimension}, "
                            f"{path} has {info.dimension}")
    await store.create_collection(spec)
    marker = _progress_file(path)
    done = orjson.loads(marker.read_bytes())["rows"] if marker.exists() else 0
    rows = iter_parquet(path, done) if info.fmt == "parquet" else iter_jsonl(path, done)
    wave: list[list[Record]] = [[]]
    for record in rows:
        wave[-1].append(record)
        if len(wave[-1]) == batch_size:
            if len(wave) == concurrency:
                done = await _write_wave(store, spec, wave, marker, done, info.rows, progress)
                wave = []
            wave.append([])
    done = await _write_wave(store, spec, wave, marker, done, info.rows, progress)
    marker.unlink(missing_ok=True)
    return {"collection": name, "file": str(path), "rows": info.rows,
            "count": await store.count(spec.key)}


async def _write_wave(store: VectorStore, spec: CollectionSpec, wave: list[list[Record]],
                      marker: Path, done: int, total: int, progress: Progress | None) -> int:
    batches = [b for b in wave if b]
    await asyncio.gather(*(store.upsert(spec, b) for b in batches))
    done += sum(len(b) for b in batches)
    await asyncio.to_thread(marker.write_bytes, orjson.dumps({"rows": done}))
    if progress:
        progress(done, total)
    return done
