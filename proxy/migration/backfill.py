"""Backfill with catch-up: copy what the source held before dual-write began.

For each collection, in one sentence: record the journal head, stream the source in
pages (the next page is read while the current one is written, in ``concurrency``
parallel upserts), checkpoint after every page, and once the last page is written,
re-apply the journal from the recorded head in order. The replay runs after the last
page on purpose: a page read before a delete or a newer write may land on the target
after the applier applied that change; replaying the journal from the start position
puts every such id back to its latest image, so a backfilled record can never
resurrect a delete nor overwrite a newer write (design.md, guarantee 5).

The same functions run from the CLI (offline copy, or a remote target while the proxy
runs) and inside a running proxy (:func:`start_backfill`, for local-mode targets that
only one process can open).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from adapters.base import (
    CollectionMissing,
    CollectionSpec,
    Page,
    Record,
    StoreUnavailable,
    VectorStore,
)
from proxy.journal.journal import Journal
from proxy.migration.backfill_state import (
    CHECKPOINT_FILE,
    BackfillCopied,
    BackfillRun,
    CheckpointFile,
    CollectionCheckpoint,
    CollectionProgress,
)
from proxy.migration.catchup import replay_journal

log = logging.getLogger("vecbridge.backfill")
T = TypeVar("T")
RETRIES = 10


class BackfillError(RuntimeError):
    """The backfill cannot go on (the message names the collection)."""


@dataclass(frozen=True)
class BackfillOptions:
    """How hard a backfill pushes: page size, parallel upserts, optional rate limit."""

    batch_size: int = 500
    concurrency: int = 4
    rate_limit: float | None = None  # records per second, None: as fast as possible
    restart: bool = False  # forget an unfinished checkpoint and start over


Emit = Callable[[object], None]


def checkpoint_path(journal_path: Path) -> Path:
    """The checkpoint file lives next to the journal it refers to."""
    return journal_path.parent / CHECKPOINT_FILE


async def resolve_collections(source: VectorStore, names: Sequence[str] | None
                              ) -> list[CollectionSpec]:
    """Specs of the named collections (all when ``names`` is empty); unknown names fail."""
    specs = await source.list_collections()
    if not names:
        return specs
    # A bare name also finds a collection outside the default database; the full
    # ``tenant/database/name`` form (and a default-database name) wins on a clash.
    by_name = {s.key.name: s for s in specs} | {str(s.key): s for s in specs}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise BackfillError(f"unknown collection {missing[0]!r} in the source")
    return [by_name[n] for n in names]


async def run_backfill(
    source: VectorStore, target: VectorStore, journal: Journal, specs: Sequence[CollectionSpec],
    options: BackfillOptions, run: BackfillRun | None = None, emit: Emit | None = None,
) -> BackfillRun:
    """Backfill ``specs`` one collection after the other; ``run`` receives progress."""
    run = run or BackfillRun()
    checkpoints = await asyncio.to_thread(CheckpointFile, checkpoint_path(journal.path))
    for spec in specs:
        run.collections.setdefault(str(spec.key), CollectionProgress(str(spec.key)))
    try:
        for spec in specs:
            job = _Job(source, target, journal, spec, options, checkpoints,
                       run.collections[str(spec.key)], emit or (lambda _e: None))
            await job.run()
    except Exception as exc:
        run.error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        run.running = False
        run.finished_at = time.time()
    return run


class _Job:
    """The backfill of one collection."""

    def __init__(self, source: VectorStore, target: VectorStore, journal: Journal,
                 spec: CollectionSpec, options: BackfillOptions, checkpoints: CheckpointFile,
                 progress: CollectionProgress, emit: Emit) -> None:
        self.source, self.target, self.journal = source, target, journal
        self.spec, self.options, self.checkpoints = spec, options, checkpoints
        self.progress, self.emit = progress, emit
        self.name = str(spec.key)

    async def run(self) -> None:
        try:
            state = await self._begin()
            if not state.copy_done:
                await self._copy(state)
            self.progress.state = "catching_up"
            await self._catch_up(state)
            state.done = True
            await self._save(state)
            self.progress.state = "done"
            self.emit(BackfillCopied(self.name, 0, 1.0))
        except Exception as exc:
            self.progress.state = "failed"
            self.progress.error = f"{type(exc).__name__}: {exc}"
            raise BackfillError(f"collection {self.name}: {self.progress.error}") from exc

    async def _begin(self) -> CollectionCheckpoint:
        state = self.checkpoints.get(self.name)
        if state is None or state.done or self.options.restart:
            state = CollectionCheckpoint(start_seq=await self.journal.head())
            state.replayed_to = state.start_seq
            await self._save(state)
            log.info("backfill %s: starting at journal position %d", self.name, state.start_seq)
        else:
            log.info("backfill %s: resuming after %d records", self.name, state.copied)
        self.progress.copied = self.progress.resumed_from = state.copied
        self.progress.total = max(await self.source.count(self.spec.key), state.copied)
        fresh = await self.source.describe_collection(self.spec.key)
        await self.target.create_collection(fresh or self.spec)
        return state

    async def _save(self, state: CollectionCheckpoint) -> None:
        await asyncio.to_thread(self.checkpoints.put, self.name, state)

    async def _copy(self, state: CollectionCheckpoint) -> None:
        self.progress.state = "copying"
        spec = await self.source.describe_collection(self.spec.key) or self.spec
        began, copied_here = time.monotonic(), 0
        pending = self._fetch(state.cursor)
        try:
            while True:
                page = await pending
                if page is None:  # the collection went away: the journal has the drop
                    break
                if page.next_cursor is not None:
                    pending = self._fetch(page.next_cursor)
                await self._write(spec, page.records, first_position=state.copied)
                state.cursor, state.copied = page.next_cursor, state.copied + len(page.records)
                state.copy_done = page.next_cursor is None
                await self._save(state)
                copied_here += len(page.records)
                self._report(state, len(page.records), copied_here, began)
                await self._throttle(copied_here, began)
                if state.copy_done:
                    break
        finally:
            pending.cancel()
        state.copy_done = True
        await self._save(state)

    def _fetch(self, cursor: str | None) -> asyncio.Future[Page | None]:
        async def fetch() -> Page | None:
            try:
                return await retrying(lambda: self.source.scroll(
                    self.spec.key, cursor, self.options.batch_size))
            except CollectionMissing:
                return None

        return asyncio.ensure_future(fetch())

    async def _write(
        self, spec: CollectionSpec, records: list[Record], first_position: int = 0
    ) -> None:
        if not records:
            return
        if spec.dimension is None and records[0].embedding is not None:
            spec = replace(spec, dimension=len(records[0].embedding))
        parts = max(1, min(self.options.concurrency, len(records)))
        size = -(-len(records) // parts)
        starts = range(0, len(records), size)
        # A store that keeps the source's row order (Qdrant: the ``seq`` field) is told
        # each record's place in the stream, whatever order the parallel upserts land in.
        ordered = bool(getattr(self.target, "keeps_source_order", False))
        calls = []
        for i in starts:
            chunk = records[i : i + size]
            where = {"positions": range(first_position + i, first_position + i + len(chunk))}
            calls.append(
                functools.partial(self.target.upsert, spec, chunk, **(where if ordered else {}))
            )
        await asyncio.gather(*(retrying(call) for call in calls))

    def _report(self, state: CollectionCheckpoint, batch: int, copied_here: int,
                began: float) -> None:
        progress = self.progress
        progress.copied = state.copied
        progress.total = max(progress.total, state.copied)
        elapsed = time.monotonic() - began
        progress.records_per_second = copied_here / elapsed if elapsed > 0 else 0.0
        self.emit(BackfillCopied(self.name, batch, progress.ratio))

    async def _throttle(self, copied: int, began: float) -> None:
        rate = self.options.rate_limit
        if rate:
            ahead = copied / rate - (time.monotonic() - began)
            if ahead > 0:
                await asyncio.sleep(ahead)

    async def _catch_up(self, state: CollectionCheckpoint) -> None:
        async def checkpoint(position: int, applied: int) -> None:
            state.replayed_to = position
            self.progress.replayed_entries += applied
            await self._save(state)

        await replay_journal(self.journal, self.target, {self.spec.key}, state.replayed_to,
                             checkpoint)


async def retrying(call: Callable[[], Awaitable[T]]) -> T:
    """``call()``, retried with backoff while the store reports a transient failure.

    Chroma answers some reads with a 500 while heavy writes run (observed: "Error
    finding id"); a backfill must ride through that rather than stop.
    """
    for attempt in range(RETRIES):
        try:
            return await call()
        except StoreUnavailable as exc:
            if attempt == RETRIES - 1:
                raise
            log.warning("backfill: transient store failure, retrying: %s", exc)
            await asyncio.sleep(min(5.0, 0.1 * 2**attempt))
    raise AssertionError("unreachable")
