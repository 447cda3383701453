"""Export -> import round trips through JSONL and Parquet reproduce a collection exactly
(must-show 3), and bad input fails with one line naming the file, line or collection,
leaving nothing half-written (must-show 4)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from harness import chroma_rows
from migrate_support import cli, cli_json, seed, write_config
from qdrant_client import QdrantClient

from proxy.upstream.embedded_chroma import EmbeddedChroma, free_port


def _config(tmp: Path, url: str, target_url: str | None = None) -> str:
    tmp.mkdir(parents=True, exist_ok=True)
    return str(write_config(tmp, {
        "source": {"url": url},
        "target": {"url": target_url} if target_url else {"path": str(tmp / "qdrant")},
        "journal": {"path": str(tmp / "journal.sqlite")},
        "migration": {"state_path": str(tmp / "state.sqlite")},
    }))  # fmt: skip


def _lines(path: Path) -> dict[str, dict[str, object]]:
    return {row["id"]: row for row in map(orjson.loads, path.read_bytes().splitlines())}


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_round_trip_is_exact(
    chroma_server: EmbeddedChroma, unique_name: str, tmp_path: Path, fmt: str
) -> None:
    # l2: Chroma itself changes cosine vectors by an ulp on write (see the cosine test)
    seed(chroma_server.url, unique_name, 1200, 24)
    config = _config(tmp_path, chroma_server.url)
    out = tmp_path / f"out.{fmt}"
    code, meta = cli_json("export", "--config", config, "--collection", unique_name,
                          "--out", str(out))
    assert code == 0 and meta["count"] == 1200
    assert (meta["dimension"], meta["space"]) == (24, "l2")
    # into the target (Qdrant), out again, and into a new Chroma collection
    assert cli("import", "--config", config, "--file", str(out)).returncode == 0
    back = tmp_path / f"back.{fmt}"
    assert cli("export", "--config", config, "--collection", unique_name, "--from", "target",
               "--out", str(back)).returncode == 0
    copy = unique_name + "-copy"
    done = cli("import", "--config", config, "--file", str(back), "--into", "source",
               "--collection", copy)
    assert done.returncode == 0, done.stderr
    original = chroma_rows(chroma_server.url, unique_name)
    copied = chroma_rows(chroma_server.url, copy)
    assert sorted(original) == sorted(copied)
    for rid, row in original.items():
        twin = copied[rid]
        assert row.embedding.tobytes() == twin.embedding.tobytes(), rid  # bit for bit
        assert (row.metadata, row.document) == (twin.metadata, twin.document), rid
    code, report = cli_json("validate", "--config", config, "--full",
                            "--collections", unique_name)
    assert code == 0 and report["passed"], report


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_cosine_round_trip_through_qdrant_is_exact(
    chroma_server: EmbeddedChroma, unique_name: str, tmp_path: Path, fmt: str
) -> None:
    """Qdrant keeps cosine vectors normalised; the original must come back bit for bit."""
    seed(chroma_server.url, unique_name, 700, 16, space="cosine")
    config = _config(tmp_path, chroma_server.url)
    out, back = tmp_path / f"out.{fmt}", tmp_path / f"back.{fmt}"
    assert cli("export", "--config", config, "--collection", unique_name,
               "--out", str(out)).returncode == 0
    assert cli("import", "--config", config, "--file", str(out)).returncode == 0
    assert cli("export", "--config", config, "--collection", unique_name, "--from", "target",
               "--out", str(back)).returncode == 0
    if fmt == "jsonl":
        assert _lines(out) == _lines(back)
    else:
        first, second = pq.read_table(out), pq.read_table(back)
        order = [first["id"].to_pylist().index(i) for i in second["id"].to_pylist()]
        assert first.take(order).equals(second)
    assert orjson.loads(out.with_name(out.name + ".meta.json").read_bytes())["count"] == 700


def test_bad_input_fails_cleanly(
    chroma_server: EmbeddedChroma, unique_name: str, tmp_path: Path
) -> None:
    seed(chroma_server.url, unique_name, 300, 8)
    config = _config(tmp_path, chroma_server.url)
    good = tmp_path / "good.jsonl"
    assert cli("export", "--config", config, "--collection", unique_name,
               "--out", str(good)).returncode == 0
    # a truncated JSONL line: named by file and line, nothing imported
    bad = tmp_path / "bad.jsonl"
    lines = good.read_bytes().splitlines(keepends=True)
    bad.write_bytes(b"".join(lines[:200]) + lines[200][:40])
    (tmp_path / "bad.jsonl.meta.json").write_bytes((tmp_path / "good.jsonl.meta.json")
                                                   .read_bytes())
    done = cli("import", "--config", config, "--file", str(bad), "--collection", "fresh-one")
    assert done.returncode == 2
    assert f"{bad}:201: not valid JSON" in done.stderr and len(done.stderr.splitlines()) == 1
    client = QdrantClient(path=str(tmp_path / "qdrant"))
    assert not client.collection_exists("fresh-one")  # nothing half-written
    client.close()
    # a JSONL file cut at a line boundary parses: the meta file's count catches it
    short = tmp_path / "short.jsonl"
    short.write_bytes(b"".join(lines[:36]))
    (tmp_path / "short.jsonl.meta.json").write_bytes((tmp_path / "good.jsonl.meta.json")
                                                     .read_bytes())
    done = cli("import", "--config", config, "--file", str(short), "--collection", "fresh-one")
    assert done.returncode == 2 and "36 rows, but short.jsonl.meta.json says 300" in done.stderr
    assert str(short) in done.stderr and len(done.stderr.splitlines()) == 1
    code, _ = cli_json("import", "--config", config, "--file", str(good),
                       "--collection", "fresh-one")  # the intact file still imports
    assert code == 0
    # a Parquet file with the wrong dimension
    wrong = tmp_path / "wrong.parquet"
    pq.write_table(pa.table({"id": ["a"], "embedding": pa.array(
        [[0.0] * 5], pa.list_(pa.float32(), 5))}), wrong)
    wrong.with_name("wrong.parquet.meta.json").write_bytes(orjson.dumps(
        {"collection": "w", "dimension": 8, "space": "l2"}))
    done = cli("import", "--config", config, "--file", str(wrong))
    assert done.returncode == 2 and "embedding dimension 5, expected 8" in done.stderr
    assert str(wrong) in done.stderr
    # an unknown collection
    for verb in (["backfill", "--collections", "no-such-collection"],
                 ["validate", "--collections", "no-such-collection"],
                 ["export", "--collection", "no-such-collection", "--out", str(tmp_path / "x")]):
        done = cli(*verb, "--config", config)
        assert done.returncode == 2, (verb, done.stderr)
        assert "'no-such-collection'" in done.stderr and len(done.stderr.splitlines()) == 1
    # unreachable stores
    down = f"http://127.0.0.1:{free_port()}"
    done = cli("backfill", "--config", _config(tmp_path / "a", down))
    assert done.returncode == 2 and f"source store unreachable at {down}" in done.stderr
    done = cli("validate", "--config", _config(tmp_path / "b", chroma_server.url, down))
    assert done.returncode == 2 and "target store unreachable" in done.stderr
    assert len(done.stderr.splitlines()) == 1
