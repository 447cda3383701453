"""Offline backfill, then a divergence made directly in the target: validate finds the
exact ids and fails; --repair fixes them and passes on the comparison after the repair;
the next validate --full passes too (must-show 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from harness import assert_same_rows, chroma_rows, qdrant_rows
from migrate_support import cli, cli_json, seed, write_config
from qdrant_client import QdrantClient
from qdrant_client.http import models as qm

from adapters.base import CollectionKey
from adapters.qdrant_layout import collection_name, point_id
from proxy.upstream.embedded_chroma import EmbeddedChroma


def _config(tmp: Path, url: str) -> Path:
    return write_config(tmp, {
        "source": {"url": url}, "target": {"path": str(tmp / "qdrant")},
        "journal": {"path": str(tmp / "journal.sqlite")},
        "migration": {"state_path": str(tmp / "state.sqlite")},
        "validation": {"queries": 10, "sample_size": 200},
    })  # fmt: skip


def _diverge(path: Path, name: str) -> None:
    """Change, delete and add records behind vecbridge's back."""
    client = QdrantClient(path=str(path))
    try:
        qname = collection_name(CollectionKey(name))
        changed = client.retrieve(qname, [point_id("id-5")], with_payload=True,
                                  with_vectors=True)[0]
        payload = dict(changed.payload or {})
        payload["metadata"] = {**payload["metadata"], "bucket": 999}
        client.overwrite_payload(qname, payload, points=[point_id("id-5")])
        vector = np.asarray(changed.vector, dtype=np.float32) + 0.01
        client.update_vectors(qname, [qm.PointVectors(id=point_id("id-6"),
                                                      vector=vector.tolist())])
        client.delete(qname, qm.PointIdsList(points=[point_id("id-7")]))
        extra = {**payload, "chroma_id": "intruder"}
        client.upsert(qname, [qm.PointStruct(id=point_id("intruder"), vector=vector.tolist(),
                                             payload=extra)])
    finally:
        client.close()


def test_validate_finds_divergence_and_repair_fixes_it(
    chroma_server: EmbeddedChroma, unique_name: str, tmp_path: Path
) -> None:
    seed(chroma_server.url, unique_name, 1500, 16)
    config = str(_config(tmp_path, chroma_server.url))
    code, result = cli_json("backfill", "--config", config, "--collections", unique_name,
                            "--batch-size", "400")
    assert code == 0 and result["passed"], result
    code, report = cli_json("validate", "--config", config, "--full", "--collections", unique_name)
    assert code == 0 and report["passed"], report
    assert report["collections"][0]["compared"] == 1500
    assert report["collections"][0]["recall"]["mean"] >= 0.95

    _diverge(tmp_path / "qdrant", unique_name)
    code, report = cli_json("validate", "--config", config, "--full", "--collections", unique_name)
    assert code == 1 and not report["passed"]
    found = report["collections"][0]
    assert found["mismatched_ids"] == {"id-5": ["metadata"], "id-6": ["vector"]}
    assert found["missing_ids"] == ["id-7"] and found["extra_ids"] == ["intruder"]
    lines = Path(report["mismatch_file"]).read_text().splitlines()
    assert sorted(line.split("\t")[1] for line in lines) == ["id-5", "id-6", "id-7", "intruder"]

    human = cli("validate", "--config", config, "--full", "--collections", unique_name)
    assert human.returncode == 1 and "FAILED" in human.stdout, human.stdout + human.stderr
    assert "id-5 differs in metadata" in human.stdout  # the table's numbers, by id
    assert f"{unique_name}: missing in target: id-7" in human.stdout
    assert f"{unique_name}: extra in target: intruder" in human.stdout

    # --repair re-copies them, compares them again, and the verdict is the one after
    human = cli("validate", "--config", config, "--full", "--repair", "--collections", unique_name)
    assert human.returncode == 0, human.stdout + human.stderr
    assert "repaired 4; still different 0; PASSED" in human.stdout, human.stdout
    assert "id-5, id-6, id-7, intruder" in human.stdout  # which ids were repaired
    code, report = cli_json("validate", "--config", config, "--full", "--collections", unique_name)
    assert code == 0 and report["passed"], report
    assert_same_rows(chroma_rows(chroma_server.url, unique_name),
                     qdrant_rows(tmp_path / "qdrant", unique_name))


def test_sampled_validate_and_plan(
    chroma_server: EmbeddedChroma, unique_name: str, tmp_path: Path
) -> None:
    seed(chroma_server.url, unique_name, 600, 8, space="cosine")
    config = str(_config(tmp_path, chroma_server.url))
    code, plan = cli_json("plan", "--config", config, "--collections", unique_name)
    assert code == 0
    (item,) = plan["collections"]
    assert (item["count"], item["dimension"], item["space"]) == (600, 8, "cosine")
    assert item["metadata_keys"]["labels"]["types"] == ["list[str]"]
    assert item["metadata_keys"]["score"]["fill_rate"] == 1.0
    assert item["id_formats"] == {"string": 500}  # the measured sample
    assert item["estimate"]["backfill_seconds"] is not None
    assert item["target"]["vectors"] == {"size": 8, "distance": "Cosine"}
    assert cli("plan", "--config", config).returncode == 0
    assert cli("backfill", "--config", config, "--collections", unique_name).returncode == 0
    code, report = cli_json("validate", "--config", config, "--sample", "100",
                            "--collections", unique_name)
    assert code == 0 and report["passed"], report
    assert report["collections"][0]["compared"] == 100
