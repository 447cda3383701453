"""A whole validation run: every collection compared, optionally repaired (and the
repaired ids compared again), one report.

Runs from the CLI with stores of its own, or inside a running proxy
(:func:`run_validation`, mounted by the admin API) where the proxy's target and
applier are used: repairs then go through the live applier.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from adapters.base import CollectionSpec, VectorStore
from proxy.journal.journal import Journal
from proxy.migration.backfill import resolve_collections
from proxy.migration.repair import repair_ids
from proxy.migration.validate import (
    CollectionReport,
    ValidationOptions,
    check_records,
    summary,
    validate_collection,
    write_mismatches,
)

MISMATCH_FILE = "validate-mismatches.tsv"


async def validate_stores(source: VectorStore, target: VectorStore, journal: Journal,
                          names: Sequence[str] | None, options: ValidationOptions,
                          applier_running: bool) -> dict[str, Any]:
    """Validate (and repair) the named collections (all when empty).

    With ``options.repair`` the ids found different are re-copied, then compared again:
    the verdict (``passed``, the exit code, the recorded validation) is the one after the
    repair; what the first comparison found is kept under ``before_repair``.
    """
    specs = await resolve_collections(source, names)
    found: list[CollectionReport] = []
    final: list[CollectionReport] = []
    repairs: list[dict[str, Any]] = []
    for spec in specs:
        report = await validate_collection(source, target, spec, options)
        found.append(report)
        if options.repair and report.bad_ids():
            done, after = await _repair(source, target, journal, spec, report, options,
                                        applier_running)
            repairs.append(done)
            report = after
        final.append(report)
    result = summary(final, options)
    path = options.mismatch_file or journal.path.parent / MISMATCH_FILE
    written = write_mismatches(path, found)  # what the comparison found (= what was repaired)
    result["mismatch_file"] = str(path) if written else None
    if options.repair:
        result["repairs"] = repairs
        result["repaired_all"] = all(r["still_different"] == 0 for r in repairs)
        result["passed_before_repair"] = all(r.passed(options.min_recall) for r in found)
        for item, before, after in zip(result["collections"], found, final, strict=True):
            if after is not before:
                item["before_repair"] = before.as_dict(options.min_recall)
    return result


async def _repair(source: VectorStore, target: VectorStore, journal: Journal,
                  spec: CollectionSpec, report: CollectionReport, options: ValidationOptions,
                  applier_running: bool) -> tuple[dict[str, Any], CollectionReport]:
    """Re-copy the bad ids, then compare them again: (what was done, the report after)."""
    ids = report.bad_ids()
    done = await repair_ids(source, target, journal, spec, ids, applier_running)
    after = await _recheck(source, target, spec, options, report, ids)
    done["fixed_ids"] = ids[:50]
    done["still_different"] = len(after.bad_ids())
    return done, after


async def _recheck(source: VectorStore, target: VectorStore, spec: CollectionSpec,
                   options: ValidationOptions, report: CollectionReport,
                   ids: Sequence[str]) -> CollectionReport:
    """``report`` with the repaired ids compared again and the counts read again.

    Recall is not measured again: the repair copies records, it does not change how the
    target searches, and the query vectors of a sampled run are not kept.
    """
    after = CollectionReport(report.collection, compared=report.compared,
                             recall=report.recall, problem=report.problem)
    fresh = await source.get(spec.key, ids)
    copies = await target.get(spec.key, ids)
    check_records(spec, options, after, fresh, copies)
    after.compared = report.compared  # check_records counted the re-reads again
    in_source = {r.id for r in fresh}
    after.extra_in_target = [r.id for r in copies if r.id not in in_source]
    after.source_count, after.target_count = await _settled_counts(source, target, spec)
    return after


async def _settled_counts(source: VectorStore, target: VectorStore, spec: CollectionSpec,
                          attempts: int = 20) -> tuple[int, int]:
    """Both counts, re-read a few times while they differ (the target trails by the
    journal lag under live writes; a gap that stays is real)."""
    for _ in range(attempts - 1):
        counts = (await source.count(spec.key), await target.count(spec.key))
        if counts[0] == counts[1]:
            return counts
        await asyncio.sleep(0.5)
    return await source.count(spec.key), await target.count(spec.key)
