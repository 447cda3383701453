"""CLI verbs of a migration: plan, backfill, validate, export, import.

Each verb runs with stores of its own, except when the target is Qdrant local mode
and a running proxy holds it: then backfill and validate go through the proxy's admin
API (:mod:`proxy.cli.admin_client`) and poll its progress. Export and import open only the
store they read or write. A backfill is refused while a running proxy (one answering on
the configured app port) is in phase passthrough (:mod:`proxy.migration.backfill_phase`). Exit
codes: 0 done / passed, 1 the backfill or validation failed or was refused, 2 bad input,
unknown collection or unreachable store (with a one-line message naming it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson

from adapters.base import StoreError
from proxy.cli.admin_client import AdminClient, AdminUnavailable
from proxy.cli.report import ProgressBar, print_backfill, print_plan, print_validation
from proxy.cli.stores import (
    StoreOpenError,
    open_source,
    open_store,
    open_stores,
    open_target_checked,
)
from proxy.core.config import Config, load_config
from proxy.migration.backfill import (
    BackfillError,
    BackfillOptions,
    resolve_collections,
    run_backfill,
)
from proxy.migration.backfill_phase import backfill_refusal
from proxy.migration.backfill_state import BackfillRun
from proxy.migration.catchup import JournalPruned
from proxy.migration.plan import plan_collection
from proxy.migration.transfer import TransferError, export_collection, import_collection
from proxy.migration.validate import ValidationOptions
from proxy.migration.validation_run import validate_stores

FAILURES = (StoreOpenError, StoreError, TransferError, BackfillError, JournalPruned,
            AdminUnavailable, TimeoutError, OSError)


def _run(work: Callable[[Config], Coroutine[Any, Any, int]]) -> Callable[[argparse.Namespace], int]:
    """A verb: load the config, run ``work``, turn known failures into one line + exit 2."""
    def command(args: argparse.Namespace) -> int:
        config = load_config(args.config)
        try:
            return asyncio.run(work(config))
        except FAILURES as exc:
            print(f"vecbridge {args.verb}: {exc}", file=sys.stderr)
            return 2

    return command


def _dump(value: Any) -> None:
    print(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def _admin(config: Config) -> AdminClient | None:
    """The running proxy's admin API when the target is local mode and the API answers."""
    if config.target.url is not None or not config.admin.enabled:
        return None
    client = AdminClient.from_config(config)
    return client if client.answers() else None


def running_phase(config: Config, timeout: float = 3.0) -> str | None:
    """The phase of the proxy answering on the configured app port; None when none does."""
    host = config.listen.host
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    host = f"[{host}]" if ":" in host else host
    url = f"http://{host}:{config.listen.port}/-/status"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            status = orjson.loads(resp.read())
    except (urllib.error.URLError, OSError, orjson.JSONDecodeError):
        return None  # nothing there, or not a vecbridge (a Chroma answers 404)
    phase = status.get("phase") if isinstance(status, dict) else None
    return phase if isinstance(phase, str) else None


# -- verbs --------------------------------------------------------------------------------

def cmd_plan(args: argparse.Namespace) -> int:
    async def work(config: Config) -> int:
        async with open_source(config) as source:
            specs = await resolve_collections(source, args.collections)
            try:
                target = await open_target_checked(config)
            except StoreOpenError:
                target = None  # held by the proxy: no write-rate probe
            try:
                plans = [await plan_collection(source, target, s) for s in specs]
            finally:
                if target is not None:
                    await target.close()
        _dump({"collections": plans}) if args.json else print_plan(plans)
        return 0

    return _run(work)(args)


def _backfill_options(args: argparse.Namespace) -> BackfillOptions:
    return BackfillOptions(batch_size=args.batch_size, concurrency=args.concurrency,
                           rate_limit=args.rate_limit, restart=args.restart)


def cmd_backfill(args: argparse.Namespace) -> int:
    async def work(config: Config) -> int:
        options = _backfill_options(args)
        phase = await asyncio.to_thread(running_phase, config)
        refusal = None if phase is None else backfill_refusal(phase)
        if refusal is not None:
            print(f"vecbridge backfill: refused: {refusal}", file=sys.stderr)
            return 1
        bar = ProgressBar(enabled=not args.json)
        admin = _admin(config)
        if admin is not None:
            result = await admin.backfill(args.collections, options, bar.update)
        else:
            async with open_stores(config) as stores:
                specs = await resolve_collections(stores.source, args.collections)
                run = BackfillRun()
                watcher = asyncio.ensure_future(bar.watch(run))
                try:
                    await run_backfill(stores.source, stores.target, stores.journal, specs,
                                       options, run)
                finally:
                    watcher.cancel()
                result = run.as_dict()
        bar.finish()
        _dump(result) if args.json else print_backfill(result)
        return 0 if result.get("passed") else 1

    return _run(work)(args)


def _validation_options(config: Config, args: argparse.Namespace) -> ValidationOptions:
    from proxy.migration.transfer import iter_jsonl

    vectors = None
    if args.queries is not None:
        vectors = [r.embedding for r in iter_jsonl(args.queries) if r.embedding is not None]
    return ValidationOptions.from_config(
        config.validation, full=args.full, sample_size=args.sample, query_vectors=vectors,
        repair=args.repair, mismatch_file=args.mismatches)


def _record_offline(config: Config, report: dict[str, Any]) -> None:
    """Remember the result in the shared state, as the proxy does (cutover reads it)."""
    from proxy.core.phases import record_validation
    from proxy.core.state import StateStore

    failed = [c["collection"] for c in report.get("collections", []) if not c.get("passed")]
    state = StateStore(config.migration.state_path)
    try:
        outcome = "all collections passed" if not failed else "failed: " + ", ".join(failed[:5])
        record_validation(state, bool(report["passed"]), outcome)
    finally:
        state.close()


def cmd_validate(args: argparse.Namespace) -> int:
    async def work(config: Config) -> int:
        options = _validation_options(config, args)
        admin = _admin(config)
        if admin is not None:
            report = await admin.validate(args.collections, options)
        else:
            async with open_stores(config) as stores:
                report = await validate_stores(stores.source, stores.target, stores.journal,
                                               args.collections, options,
                                               applier_running=False)
            _record_offline(config, report)
        _dump(report) if args.json else print_validation(report)
        return 0 if report["passed"] else 1

    return _run(work)(args)


def cmd_export(args: argparse.Namespace) -> int:
    async def work(config: Config) -> int:
        bar = ProgressBar(enabled=not args.json)
        async with open_store(config, args.side) as store:
            meta = await export_collection(store, args.collection, args.out, args.format,
                                           lambda d, t: bar.show(args.collection, d, t))
        bar.finish()
        _dump(meta) if args.json else print(
            f"exported {meta['count']} records of {meta['collection']} to {args.out}")
        return 0

    return _run(work)(args)


def cmd_import(args: argparse.Namespace) -> int:
    async def work(config: Config) -> int:
        bar = ProgressBar(enabled=not args.json)
        async with open_store(config, args.side) as store:
            result = await import_collection(
                store, args.file, args.collection, args.format, args.batch_size,
                args.concurrency, lambda d, t: bar.show(str(args.file), d, t))
        bar.finish()
        _dump(result) if args.json else print(
            f"imported {result['rows']} rows into {result['collection']} "
            f"(it now holds {result['count']})")
        return 0

    return _run(work)(args)


# -- parser ---------------------------------------------------------------------------------

def _common(parser: argparse.ArgumentParser, collections: bool = True) -> None:
    parser.add_argument("--config", type=Path, default=None, help="config file")
    parser.add_argument("--json", action="store_true", help="print JSON")
    if collections:
        parser.add_argument("--collections", nargs="*", default=None,
                            help="collection names (default: all)")


def register(verbs: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add plan, backfill, validate, export and import to the ``vecbridge`` parser."""
    plan = verbs.add_parser("plan", help="pre-migration inventory and estimate")
    _common(plan)
    plan.set_defaults(func=cmd_plan)

    backfill = verbs.add_parser("backfill", help="copy existing records (resumable)")
    _common(backfill)
    backfill.add_argument("--batch-size", type=int, default=500, help="records per page")
    backfill.add_argument("--concurrency", type=int, default=4, help="upserts in flight")
    backfill.add_argument("--rate-limit", type=float, default=None, help="records/s cap")
    backfill.add_argument("--restart", action="store_true", help="ignore the checkpoint")
    backfill.set_defaults(func=cmd_backfill)

    validate = verbs.add_parser("validate", help="compare both stores (and repair)")
    _common(validate)
    mode = validate.add_mutually_exclusive_group()
    mode.add_argument("--sample", type=int, default=None, help="records compared")
    mode.add_argument("--full", action="store_true", help="compare every record")
    validate.add_argument("--queries", type=Path, default=None,
                          help="JSONL of test queries ({'id', 'embedding'} per line)")
    validate.add_argument("--repair", action="store_true", help="re-copy mismatching ids")
    validate.add_argument("--mismatches", type=Path, default=None,
                          help="file for mismatching ids (default: next to the journal)")
    validate.set_defaults(func=cmd_validate)

    export = verbs.add_parser("export", help="write a collection to JSONL or Parquet")
    _common(export, collections=False)
    export.add_argument("--collection", required=True, help="collection name")
    export.add_argument("--out", type=Path, required=True, help="output file")
    export.add_argument("--format", choices=["jsonl", "parquet"], default=None)
    export.add_argument("--from", dest="side", choices=["source", "target"], default="source")
    export.set_defaults(func=cmd_export)

    imp = verbs.add_parser("import", help="load a JSONL or Parquet export into a store")
    _common(imp, collections=False)
    imp.add_argument("--file", type=Path, required=True, help="input file")
    imp.add_argument("--collection", default=None, help="name (default: from the meta file)")
    imp.add_argument("--format", choices=["jsonl", "parquet"], default=None)
    imp.add_argument("--into", dest="side", choices=["target", "source"], default="target")
    imp.add_argument("--batch-size", type=int, default=500, help="records per upsert")
    imp.add_argument("--concurrency", type=int, default=4, help="upserts in flight")
    imp.set_defaults(func=cmd_import)
