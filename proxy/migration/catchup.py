"""Catch-up: re-apply the journal from a recorded position onto the target, in order.

Used by the backfill after its last page: every change journaled since the backfill
started is applied again, so a page read before a delete or a newer write cannot win.

The running applier keeps applying new entries meanwhile, so this replay may itself
overwrite a newer image the applier just wrote. Hence passes: the first replays
everything up to the head it saw; each further pass replays, for the ids the previous
pass wrote only, the entries appended during that pass, and it stops once a pass writes
nothing. Ids this replay did not write are safe: their entries after the first head
were appended after the last page, so the applier applies them after it. Passes
shrink quickly, so the replay ends even while the app keeps writing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection

from adapters.base import CollectionKey, VectorStore
from proxy.journal.applier import apply_change, coalesce
from proxy.journal.changes import Change, DeleteRecords, RenameCollection, UpsertRecords
from proxy.journal.journal import Journal, JournalEntry

log = logging.getLogger("vecbridge.catchup")

READ_BATCH = 1000
MERGE_MAX = 512
MAX_PASSES = 100

Checkpoint = Callable[[int, int], Awaitable[None]]


class JournalPruned(RuntimeError):
    """Entries the catch-up needs are gone from the journal."""


def touches(change: Change, keys: Collection[CollectionKey]) -> bool:
    """Does ``change`` concern one of ``keys`` (either side of a rename counts)?"""
    if isinstance(change, RenameCollection):
        return change.old in keys or change.spec.key in keys
    return change.collection in keys


def narrow(change: Change, ids: set[str] | None) -> Change | None:
    """``change`` limited to ``ids`` (None: all); None when nothing of it is left."""
    if ids is None:
        return change
    if isinstance(change, UpsertRecords):
        kept = tuple(r for r in change.records if r.id in ids)
        return UpsertRecords(change.spec, kept) if kept else None
    if isinstance(change, DeleteRecords):
        gone = tuple(i for i in change.ids if i in ids)
        return DeleteRecords(change.key, gone) if gone else None
    return change  # collection-level changes always count


async def _apply(target: VectorStore, entries: list[JournalEntry]) -> set[str]:
    """Apply in order (runs merged like the applier); returns the record ids written."""
    written: set[str] = set()
    for group in coalesce(entries, MERGE_MAX):
        change = group.last.change
        if isinstance(change, UpsertRecords) and len(group.entries) > 1:
            await target.upsert(change.spec, list(group.records.values()))
        elif isinstance(change, DeleteRecords) and len(group.entries) > 1:
            await target.delete(change.key, tuple(group.ids))
        else:
            await apply_change(target, change)
        written.update(group.records, group.ids)  # coalesce fills both for every group
    return written


async def replay_journal(journal: Journal, target: VectorStore, keys: Collection[CollectionKey],
                         after: int, checkpoint: Checkpoint) -> int:
    """Replay entries after ``after`` touching ``keys`` (see the module notes).

    ``checkpoint(position, applied)`` is awaited after each read batch; returns the last
    position read.
    """
    position, keys, watched = after, set(keys), None
    for _ in range(MAX_PASSES):
        head = await journal.head()
        written: set[str] = set()
        while position < head:
            entries = [e for e in await journal.read_after(position, READ_BATCH)
                       if e.seq <= head]
            if not entries:
                break
            if position == after and after > 0 and entries[0].seq > after + 1:
                raise JournalPruned(
                    f"journal entries {after + 1}..{entries[0].seq - 1} were pruned: the "
                    "catch-up cannot replay them; run the backfill again with --restart")
            relevant = _relevant(entries, keys, watched)
            written |= await _apply(target, relevant)
            position = entries[-1].seq
            await checkpoint(position, len(relevant))
        if not written:
            return position
        watched = written
    log.warning("catch-up still chasing writes after %d passes; the applier finishes it",
                MAX_PASSES)
    return position


def _relevant(entries: list[JournalEntry], keys: set[CollectionKey],
              watched: set[str] | None) -> list[JournalEntry]:
    kept = []
    for entry in entries:
        if not touches(entry.change, keys):
            continue
        if isinstance(entry.change, RenameCollection):  # later entries use the new name
            keys.add(entry.change.spec.key)
        change = narrow(entry.change, watched)
        if change is not None:
            kept.append(JournalEntry(entry.seq, entry.created, change))
    return kept
