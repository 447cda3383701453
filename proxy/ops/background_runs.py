"""Backfill and validation runs inside a running proxy (the admin API's routes), for
targets only the proxy can open; the CLI runs the same functions with stores of its own."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from adapters.chroma import ChromaStore
from proxy.core.phases import record_validation
from proxy.dialects.chroma.facts import migration_tenants
from proxy.migration.backfill import (
    BackfillError,
    BackfillOptions,
    resolve_collections,
    run_backfill,
)
from proxy.migration.backfill_state import BackfillRun
from proxy.migration.validate import ValidationOptions
from proxy.migration.validation_run import validate_stores
from proxy.ops.running import Proxy

log = logging.getLogger("vecbridge.backfill")


_RUNS: dict[int, BackfillRun] = {}


async def start_backfill(proxy: Proxy, collections: Sequence[str] | None,
                         options: BackfillOptions | dict[str, Any] | None = None
                         ) -> dict[str, Any]:
    """Start a backfill as a background task of the proxy; returns its progress at once.

    Refused (``BackfillError``) while another backfill of this proxy is running, or when
    a collection name is unknown.
    """
    current = _RUNS.get(id(proxy))
    if current is not None and current.running:
        raise BackfillError("a backfill is already running")
    opts = options if isinstance(options, BackfillOptions) else BackfillOptions(**(options or {}))
    source = ChromaStore(proxy.source_url,
                         tenants=migration_tenants(proxy.config.source.tenants, proxy.state))
    try:
        specs = await resolve_collections(source, collections)
    except BaseException:
        await source.close()
        raise
    run = BackfillRun()
    _RUNS[id(proxy)] = run

    async def work() -> None:
        try:
            await run_backfill(source, proxy.target, proxy.journal, specs, opts, run,
                               proxy.events.emit)
        except BackfillError as exc:
            log.error("backfill failed: %s", exc)
        finally:
            await source.close()

    proxy.tasks.spawn(work(), name="backfill")
    return run.as_dict()


def backfill_progress(proxy: Proxy) -> dict[str, Any]:
    """The proxy's current or last backfill (``{"running": false, ...}`` when none ran)."""
    run = _RUNS.get(id(proxy))
    if run is None:
        return {"running": False, "passed": None, "error": None, "collections": []}
    return run.as_dict()


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
    opts = options if isinstance(options, ValidationOptions) else _options(proxy, options)
    source = ChromaStore(proxy.source_url,
                         tenants=migration_tenants(proxy.config.source.tenants, proxy.state))
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
