"""Catch-up: re-apply the journal from a recorded position onto the target, in order.

Used by the backfill after its last page: every change journaled since the backfill
started is applied again, so the last write to each id the target sees is the
journal's latest image, never a page read before it. Runs of upserts (and of deletes)
are merged into one call each, keeping the order across kinds, like the applier.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection

from adapters.base import CollectionKey, VectorStore
from proxy.applier import apply_change, coalesce
from proxy.changes import Change, DeleteRecords, RenameCollection, UpsertRecords
from proxy.journal import Journal

READ_BATCH = 1000
MERGE_MAX = 512

Checkpoint = Callable[[int, int], Awaitable[None]]


class JournalPruned(RuntimeError):
    """Entries the catch-up needs are gone from the journal."""


def touches(change: Change, keys: Collection[CollectionKey]) -> bool:
    """Does ``change`` concern one of ``keys`` (either side of a rename counts)?"""
    if isinstance(change, RenameCollection):
        return change.old in keys or change.spec.key in keys
    return change.collection in keys


async def replay_journal(journal: Journal, target: VectorStore, keys: Collection[CollectionKey],
                         after: int, checkpoint: Checkpoint) -> int:
    """Apply entries with seq > ``after`` touching ``keys`` until the head; returns the last seq.

    ``checkpoint(position, applied)`` is awaited after each read batch. Stops when a read
    finds nothing newer, so writes still arriving are left to the applier, which applies
    them after this replay's last write (its own order guarantees the rest).
    """
    position = after
    first = True
    keys = set(keys)
    while True:
        entries = await journal.read_after(position, READ_BATCH)
        if not entries:
            return position
        if first and after > 0 and entries[0].seq > after + 1:
            raise JournalPruned(
                f"journal entries {after + 1}..{entries[0].seq - 1} were pruned: "
                "the catch-up cannot replay them; run the backfill again with --restart")
        first = False
        relevant = [e for e in entries if touches(e.change, keys)]
        for entry in relevant:  # follow renames, so later entries under the new name count
            if isinstance(entry.change, RenameCollection):
                keys.add(entry.change.spec.key)
        for group in coalesce(relevant, MERGE_MAX):
            change = group.last.change
            if isinstance(change, UpsertRecords) and len(group.entries) > 1:
                await target.upsert(change.spec, list(group.records.values()))
            elif isinstance(change, DeleteRecords) and len(group.entries) > 1:
                await target.delete(change.key, tuple(group.ids))
            else:
                await apply_change(target, change)
        position = entries[-1].seq
        await checkpoint(position, len(relevant))
