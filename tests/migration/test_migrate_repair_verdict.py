"""``validate --repair`` reports the verdict of the comparison after the repair: an id the
repair could not fix keeps the run failed, named in the report and the human table."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from migrate_support import seed

from adapters.base import CollectionKey, CollectionSpec, Record
from adapters.chroma import ChromaStore
from adapters.qdrant import QdrantStore
from proxy.cli.report import print_validation
from proxy.journal.journal import Journal
from proxy.migration.validate import CollectionReport, ValidationOptions, summary
from proxy.migration.validation_run import validate_stores
from proxy.upstream.embedded_chroma import EmbeddedChroma

LOST = "id-3"


class LosingTarget(QdrantStore):
    """A real local-mode Qdrant that silently drops every upsert of ``LOST``: a target
    that loses writes, which no repair can mend."""

    async def upsert(self, spec: CollectionSpec, records: Sequence[Record],
                     positions: Sequence[int] | None = None) -> None:
        keep = [i for i, r in enumerate(records) if r.id != LOST]
        await super().upsert(spec, [records[i] for i in keep],
                             None if positions is None else [positions[i] for i in keep])


async def test_repair_that_does_not_stick_fails_the_run(
    chroma_server: EmbeddedChroma, unique_name: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed(chroma_server.url, unique_name, 60, 4)
    key = CollectionKey(unique_name)
    source = ChromaStore(chroma_server.url)
    target = LosingTarget.open(path=tmp_path / "qdrant")
    journal = await Journal(tmp_path / "journal.sqlite").open()
    try:
        spec = await source.describe_collection(key)
        assert spec is not None
        await QdrantStore.upsert(target, spec, (await source.scroll(key, None, 100)).records)
        await target.delete(key, ["id-1", "id-2", LOST])  # diverged behind vecbridge's back
        options = ValidationOptions(full=True, queries=0, repair=True,
                                    mismatch_file=tmp_path / "mismatches.tsv")
        report = await validate_stores(source, target, journal, [unique_name], options,
                                       applier_running=False)
    finally:
        await journal.close()
        await target.close()
        await source.close()
    (item,) = report["collections"]
    assert report["passed"] is False and report["passed_before_repair"] is False
    assert report["repairs"][0]["ids"] == 3 and report["repairs"][0]["still_different"] == 1
    assert item["before_repair"]["missing_ids"] == ["id-1", "id-2", LOST]
    assert item["missing_ids"] == [LOST]  # after the repair: only the lost one
    assert (item["source_count"], item["target_count"]) == (60, 59)
    print_validation(report)
    out = capsys.readouterr().out
    assert "repaired 3; still different 1; FAILED" in out, out
    assert f"{unique_name}: missing in target: {LOST}" in out, out
    assert out.rstrip().endswith("validation (full): FAILED")


def test_table_names_the_first_ids_and_points_at_the_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    found = CollectionReport("c", source_count=10, target_count=3, compared=10,
                             missing_in_target=[f"m{i}" for i in range(7)],
                             extra_in_target=["x0"],
                             mismatched={f"d{i}": ["metadata"] for i in range(6)})
    report = summary([found], ValidationOptions(full=True))
    report["mismatch_file"] = "/tmp/m.tsv"
    print_validation(report)
    out = capsys.readouterr().out
    assert "c: missing in target: m0, m1, m2, m3, m4 ... 2 more, see /tmp/m.tsv" in out
    assert "c: extra in target: x0\n" in out
    assert "c: d4 differs in metadata" in out and "d5 differs" not in out
    assert "c: ... 1 more differ, see /tmp/m.tsv" in out
    assert "repaired" not in out  # no --repair, no repair line
