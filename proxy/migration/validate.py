"""Validation: do both stores hold the same thing, and search the same way?

Per collection: counts; a sampled or full comparison of ids, vectors, metadata and
documents (:mod:`proxy.migration.record_compare`); recall@k of test queries
(:mod:`proxy.migration.recall`).
Ids that differ are checked a second time before they count, so a write landing
between the two reads of a live migration is not reported as a divergence. The
report is a plain dict (``passed`` at the top); :mod:`proxy.migration.repair` fixes what it lists.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.base import CollectionSpec, Record, Vector, VectorStore
from proxy.core.config import ValidationConfig
from proxy.migration.recall import measure_recall
from proxy.migration.record_compare import FLOAT_REL_TOLERANCE, differences

PAGE = 500
REPORTED_IDS = 50


@dataclass(frozen=True)
class ValidationOptions:
    """What to compare and the thresholds that pass."""

    full: bool = False
    sample_size: int = 1000
    queries: int = 20
    query_vectors: Sequence[Vector] | None = None  # from --queries FILE
    k: int = 10
    min_recall: float = 0.95
    vector_tolerance: float = 1e-6
    repair: bool = False
    mismatch_file: Path | None = None

    @classmethod
    def from_config(cls, config: ValidationConfig, **overrides: Any) -> ValidationOptions:
        base = cls(sample_size=config.sample_size, queries=config.queries, k=config.k,
                   min_recall=config.min_recall, vector_tolerance=config.vector_tolerance)
        return cls(**{**base.__dict__, **{k: v for k, v in overrides.items() if v is not None}})


@dataclass
class CollectionReport:
    """The comparison of one collection."""

    collection: str
    source_count: int = 0
    target_count: int = 0
    compared: int = 0
    mismatched: dict[str, list[str]] = field(default_factory=dict)  # id -> differing fields
    missing_in_target: list[str] = field(default_factory=list)
    extra_in_target: list[str] = field(default_factory=list)
    recall: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None

    def bad_ids(self) -> list[str]:
        return sorted({*self.mismatched, *self.missing_in_target, *self.extra_in_target})

    def passed(self, min_recall: float) -> bool:
        recall_ok = not self.recall or self.recall.get("mean", 1.0) >= min_recall
        return (self.problem is None and self.source_count == self.target_count
                and not self.bad_ids() and recall_ok)

    def as_dict(self, min_recall: float) -> dict[str, Any]:
        return {
            "collection": self.collection, "passed": self.passed(min_recall),
            "source_count": self.source_count, "target_count": self.target_count,
            "compared": self.compared, "mismatches": len(self.mismatched),
            "missing_in_target": len(self.missing_in_target),
            "extra_in_target": len(self.extra_in_target),
            "mismatched_ids": dict(sorted(self.mismatched.items())[:REPORTED_IDS]),
            "missing_ids": self.missing_in_target[:REPORTED_IDS],
            "extra_ids": self.extra_in_target[:REPORTED_IDS],
            "recall": self.recall, "problem": self.problem,
        }  # fmt: skip


async def validate_collection(source: VectorStore, target: VectorStore, spec: CollectionSpec,
                              options: ValidationOptions) -> CollectionReport:
    """Compare one collection in both stores."""
    report = CollectionReport(str(spec.key))
    key = spec.key
    report.source_count = await source.count(key)
    if await target.describe_collection(key) is None:
        report.problem = "missing in the target"
        return report
    report.target_count = await target.count(key)
    queries: list[Vector] = []
    if options.full:
        await _compare_full(source, target, spec, options, report, queries)
    else:
        await _compare_sample(source, target, spec, options, report, queries)
    await _confirm(source, target, spec, options, report)
    vectors = list(options.query_vectors) if options.query_vectors is not None else queries
    if vectors:
        report.recall = await measure_recall(source, target, key, vectors, options.k)
    return report


def check_records(spec: CollectionSpec, options: ValidationOptions, report: CollectionReport,
                  wanted: Sequence[Record], found: Sequence[Record]) -> None:
    by_id = {r.id: r for r in found}
    for record in wanted:
        report.compared += 1
        copy = by_id.get(record.id)
        if copy is None:
            report.missing_in_target.append(record.id)
            continue
        fields = differences(record, copy, spec.space, options.vector_tolerance)
        if fields:
            report.mismatched[record.id] = fields


def _keep_queries(records: Sequence[Record], queries: list[Vector], wanted: int,
                  rng: random.Random, seen: int) -> None:
    """Reservoir-sample query vectors from the records streamed past."""
    for offset, record in enumerate(records):
        if record.embedding is None:
            continue
        if len(queries) < wanted:
            queries.append(record.embedding)
        else:
            slot = rng.randrange(seen + offset + 1)
            if slot < wanted:
                queries[slot] = record.embedding


async def _compare_full(source: VectorStore, target: VectorStore, spec: CollectionSpec,
                        options: ValidationOptions, report: CollectionReport,
                        queries: list[Vector]) -> None:
    rng, seen, cursor = random.Random(7), set[str](), None
    while True:
        page = await source.scroll(spec.key, cursor, PAGE)
        records = [r for r in page.records if r.id not in seen]  # a scroll may repeat
        _keep_queries(records, queries, options.queries, rng, len(seen))
        seen.update(r.id for r in records)
        found = await target.get(spec.key, [r.id for r in records])
        check_records(spec, options, report, records, found)
        cursor = page.next_cursor
        if cursor is None:
            break
    cursor = None
    while True:
        page = await target.scroll(spec.key, cursor, PAGE)
        report.extra_in_target.extend(r.id for r in page.records if r.id not in seen)
        cursor = page.next_cursor
        if cursor is None:
            return


async def _compare_sample(source: VectorStore, target: VectorStore, spec: CollectionSpec,
                          options: ValidationOptions, report: CollectionReport,
                          queries: list[Vector]) -> None:
    """Every record has the same chance of being compared; the source is streamed once."""
    rng, cursor, seen = random.Random(7), None, 0
    share = min(1.0, options.sample_size / max(1, report.source_count))
    while report.compared < options.sample_size:
        page = await source.scroll(spec.key, cursor, PAGE)
        _keep_queries(page.records, queries, options.queries, rng, seen)
        seen += len(page.records)
        picked = [r for r in page.records if rng.random() < share]
        picked = picked[: options.sample_size - report.compared]
        if picked:
            found = await target.get(spec.key, [r.id for r in picked])
            check_records(spec, options, report, picked, found)
        cursor = page.next_cursor
        if cursor is None:
            return


async def _confirm(source: VectorStore, target: VectorStore, spec: CollectionSpec,
                   options: ValidationOptions, report: CollectionReport) -> None:
    """Read every suspicious id again on both sides; keep only those still different."""
    suspects = report.bad_ids()
    if not suspects:
        await _settle_counts(source, target, spec, report)
        return
    now = CollectionReport(report.collection)
    fresh = await source.get(spec.key, suspects)
    copies = await target.get(spec.key, suspects)
    check_records(spec, options, now, fresh, copies)
    in_source = {r.id for r in fresh}
    now.extra_in_target = [r.id for r in copies if r.id not in in_source]
    report.mismatched, report.missing_in_target = now.mismatched, now.missing_in_target
    report.extra_in_target = now.extra_in_target
    report.source_count = await source.count(spec.key)
    report.target_count = await target.count(spec.key)


async def _settle_counts(
    source: VectorStore, target: VectorStore, spec: CollectionSpec, report: CollectionReport,
    attempts: int = 20,
) -> None:
    """Re-read the counts while they differ: under live writes the two reads are taken a
    moment apart and the target trails by the journal lag. A gap that stays is real."""
    for _ in range(attempts):
        if report.source_count == report.target_count:
            return
        await asyncio.sleep(0.5)
        report.source_count = await source.count(spec.key)
        report.target_count = await target.count(spec.key)


def summary(reports: Sequence[CollectionReport], options: ValidationOptions) -> dict[str, Any]:
    """The whole report: ``passed`` is true only when every collection passed."""
    items = [r.as_dict(options.min_recall) for r in reports]
    return {
        "passed": all(i["passed"] for i in items),
        "mode": "full" if options.full else f"sample of {options.sample_size}",
        "thresholds": {"min_recall": options.min_recall, "k": options.k,
                       "vector_tolerance": options.vector_tolerance,
                       "float_metadata_rel_tolerance": FLOAT_REL_TOLERANCE},
        "notes": ["float metadata compared within 1e-9 relative: Chroma returns some floats "
                  "not bit-exactly (chroma-core/chroma#7594)",
                  "cosine vectors compared after normalising"],
        "collections": items,
    }


def write_mismatches(path: Path, reports: Sequence[CollectionReport]) -> int:
    """One line per bad id: ``collection<TAB>id<TAB>what``; returns how many."""
    lines = []
    for report in reports:
        lines += [f"{report.collection}\t{i}\t{','.join(f)}" for i, f in
                  sorted(report.mismatched.items())]
        lines += [f"{report.collection}\t{i}\tmissing_in_target"
                  for i in report.missing_in_target]
        lines += [f"{report.collection}\t{i}\textra_in_target" for i in report.extra_in_target]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return len(lines)
