"""A whole validation run: every collection compared, optionally repaired, one report.

Runs from the CLI with stores of its own, or inside a running proxy
(:func:`run_validation`, mounted by the admin API) where the proxy's target and
applier are used: repairs then go through the live applier.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from adapters.base import CollectionSpec, VectorStore
from proxy.backfill import resolve_collections
from proxy.journal import Journal
from proxy.phases import record_validation
from proxy.repair import repair_ids
from proxy.validate import (
    CollectionReport,
    ValidationOptions,
    check_records,
    summary,
    validate_collection,
    write_mismatches,
)

if TYPE_CHECKING:
    from proxy.server import Proxy

MISMATCH_FILE = "validate-mismatches.tsv"


async def validate_stores(source: VectorStore, target: VectorStore, journal: Journal,
                          names: Sequence[str] | None, options: ValidationOptions,
                          applier_running: bool) -> dict[str, Any]:
    """Validate (and repair) the named collections (all when empty)."""
    specs = await resolve_collections(source, names)
    reports: list[CollectionReport] = []
    repairs: list[dict[str, Any]] = []
    for spec in specs:
        report = await validate_collection(source, target, spec, options)
        reports.append(report)
        if options.repair and report.bad_ids():
            repairs.append(await _repair(source, target, journal, spec, report, options,
                                         applier_running))
    result = summary(reports, options)
    path = options.mismatch_file or journal.path.parent / MISMATCH_FILE
    written = write_mismatches(path, reports)
    result["mismatch_file"] = str(path) if written else None
    if options.repair:
        result["repairs"] = repairs
        # what repair fixed is reported; the verdict stays the one measured before it
        result["repaired_all"] = all(r["still_different"] == 0 for r in repairs)
    return result


async def _repair(source: VectorStore, target: VectorStore, journal: Journal,
                  spec: CollectionSpec, report: CollectionReport, options: ValidationOptions,
                  applier_running: bool) -> dict[str, Any]:
    ids = report.bad_ids()
    done = await repair_ids(source, target, journal, spec, ids, applier_running)
    after = CollectionReport(report.collection)
    fresh = await source.get(spec.key, ids)
    copies = await target.get(spec.key, ids)
    check_records(spec, options, after, fresh, copies)
    in_source = {r.id for r in fresh}
    extra = [r.id for r in copies if r.id not in in_source]
    done["fixed_ids"] = ids[:50]
    done["still_different"] = len(after.bad_ids()) + len(extra)
    return done


def _options(proxy: Proxy, raw: dict[str, Any]) -> ValidationOptions:
    """Options sent as JSON (admin API): vectors as lists, the mismatch file as text."""
    fields = dict(raw)
    if fields.get("query_vectors") is not None:
        fields["query_vectors"] = [np.asarray(v, dtype=np.float32)
                                   for v in fields["query_vectors"]]
    if fields.get("mismatch_file") is not None:
        fields["mismatch_file"] = Path(fields["mismatch_file"])
    return ValidationOptions.from_config(proxy.config.validation, **fields)


async def run_validation(proxy: Proxy, options: ValidationOptions | dict[str, Any],
                         collections: Sequence[str] | None = None) -> dict[str, Any]:
    """Validate inside a running proxy (its target, journal and applier)."""
    from adapters.chroma import ChromaStore

    opts = options if isinstance(options, ValidationOptions) else _options(proxy, options)
    source = ChromaStore(proxy.source_url)
    try:
        report = await validate_stores(source, proxy.target, proxy.journal, collections, opts,
                                       applier_running=True)
    finally:
        await source.close()
    # Cutover refuses to start after a failed validation: record every result.
    failed = [c["collection"] for c in report.get("collections", []) if not c.get("passed")]
    record_validation(
        proxy.state, bool(report["passed"]),
        "all collections passed" if not failed else "failed: " + ", ".join(failed[:5]),
    )  # fmt: skip
    return report
