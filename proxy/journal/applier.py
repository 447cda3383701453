"""The applier: replays the journal onto the secondary store, in order, at least once.

It reads entries after its checkpoint, merges runs of the same kind on the same
collection into one call (the last image of an id wins, order across kinds is kept),
applies them, then moves the checkpoint. A crash between apply and checkpoint replays
the batch, which is harmless because every change is an idempotent full image.

Failures: an unreachable secondary (``StoreUnavailable``) is retried with exponential
backoff for as long as it takes, while the journal grows. A change the secondary
refuses (``StoreRejected``) is retried alone a few times and then moved to the
dead-letter table, so one poisoned entry never blocks the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from adapters.base import CollectionMissing, Record, StoreRejected, StoreUnavailable, VectorStore
from proxy.core.config import ApplierConfig
from proxy.core.events import ApplyFailed, BatchApplied, DeadLettered, EventBus
from proxy.journal.changes import (
    Change,
    DeleteRecords,
    DropCollection,
    PutCollection,
    RenameCollection,
    UpsertRecords,
)
from proxy.journal.journal import APPLIER_CURSOR, TARGET, Journal, JournalEntry

log = logging.getLogger("vecbridge.applier")

READ_BATCH = 1000


@dataclass
class _Group:
    """Consecutive entries applied as one call."""

    entries: list[JournalEntry] = field(default_factory=list)
    records: dict[str, Record] = field(default_factory=dict)
    ids: dict[str, None] = field(default_factory=dict)

    @property
    def last(self) -> JournalEntry:
        return self.entries[-1]


def _mergeable(group: _Group, change: Change, max_records: int) -> bool:
    head = group.entries[-1].change
    if type(head) is not type(change) or head.collection != change.collection:
        return False
    if isinstance(change, UpsertRecords):
        return len(group.records) + len(change.records) <= max_records
    return isinstance(change, DeleteRecords) and len(group.ids) + len(change.ids) <= max_records


def coalesce(entries: list[JournalEntry], max_records: int) -> Iterator[_Group]:
    """Split entries into runs that can be applied as one call each."""
    group: _Group | None = None
    for entry in entries:
        change = entry.change
        if group is None or not _mergeable(group, change, max_records):
            if group is not None:
                yield group
            group = _Group()
        group.entries.append(entry)
        if isinstance(change, UpsertRecords):
            for record in change.records:
                group.records.pop(record.id, None)  # re-insert: latest image, latest position
                group.records[record.id] = record
        elif isinstance(change, DeleteRecords):
            group.ids.update(dict.fromkeys(change.ids))
    if group is not None:
        yield group


async def apply_change(store: VectorStore, change: Change) -> None:
    """Apply one change to a store (idempotent)."""
    if isinstance(change, PutCollection):
        await store.create_collection(change.spec)
        await store.modify_collection(change.spec.key, change.spec)
    elif isinstance(change, RenameCollection):
        try:
            await store.modify_collection(change.old, change.spec)
        except CollectionMissing:  # already renamed by an earlier, replayed apply
            await store.create_collection(change.spec)
            await store.modify_collection(change.spec.key, change.spec)
    elif isinstance(change, DropCollection):
        await store.delete_collection(change.key)
    elif isinstance(change, UpsertRecords):
        await store.upsert(change.spec, change.records)
    else:
        with contextlib.suppress(CollectionMissing):
            await store.delete(change.key, change.ids)


async def _apply_group(store: VectorStore, group: _Group) -> None:
    change = group.last.change
    if isinstance(change, UpsertRecords) and len(group.entries) > 1:
        await store.upsert(change.spec, list(group.records.values()))
    elif isinstance(change, DeleteRecords) and len(group.entries) > 1:
        await apply_change(store, DeleteRecords(change.key, tuple(group.ids)))
    else:
        await apply_change(store, change)


class Applier:
    """Background replay of the journal onto one store; see the module docstring."""

    def __init__(
        self,
        journal: Journal,
        store: VectorStore,
        events: EventBus,
        config: ApplierConfig,
        cursor: str = APPLIER_CURSOR,
        destination: str = TARGET,
    ) -> None:
        """``cursor`` names the checkpoint; ``destination`` the entries to replay (a second
        applier with ``destination="source"`` writes cutover's changes back to the old store)."""
        self._journal = journal
        self._store = store
        self._events = events
        self._config = config
        self._cursor = cursor
        self._destination = destination
        self.position = 0
        self.target_healthy = True

    async def run(self) -> None:
        self.position = await self._journal.cursor(self._cursor)
        while True:
            entries = await self._journal.read_after(
                self.position, READ_BATCH, self._destination
            )
            if not entries:
                await self._journal.wait_appended(timeout=0.5)
                continue
            for group in coalesce(entries, self._config.batch_max_records):
                await self._apply_with_retry(group)
                self.position = group.last.seq
                await self._journal.set_cursor(self._cursor, self.position)

    async def _apply_with_retry(self, group: _Group) -> None:
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                await _apply_group(self._store, group)
            except StoreUnavailable as exc:
                self.target_healthy = False
                self._events.emit(ApplyFailed("unavailable", str(exc), will_retry=True))
                await self._backoff(attempt)
                attempt += 1
                continue
            except (StoreRejected, ValueError, TypeError) as exc:
                if len(group.entries) > 1:
                    await self._apply_one_by_one(group)
                    return
                if await self._rejected(group.last, exc, attempt):
                    return
                attempt += 1
                continue
            self.target_healthy = True
            self._events.emit(BatchApplied(len(group.entries), time.perf_counter() - started))
            return

    async def _apply_one_by_one(self, group: _Group) -> None:
        for entry in group.entries:
            single = _Group(entries=[entry])
            await self._apply_with_retry(single)

    async def _rejected(self, entry: JournalEntry, exc: Exception, attempt: int) -> bool:
        """Count a rejection; returns True once the entry went to the dead-letter table."""
        error = f"{type(exc).__name__}: {exc}"
        final = attempt + 1 >= self._config.max_rejections
        self._events.emit(ApplyFailed("rejected", error, will_retry=not final))
        if not final:
            await self._backoff(attempt)
            return False
        log.error("journal entry %d dead-lettered: %s", entry.seq, error)
        await self._journal.dead_letter(entry, error)
        self._events.emit(DeadLettered(entry.seq, str(entry.change.collection), error))
        return True

    async def _backoff(self, attempt: int) -> None:
        delay = min(self._config.retry_max_seconds, self._config.retry_initial_seconds * 2**attempt)
        await asyncio.sleep(delay)
