"""Repair: re-copy the ids validation found different, through the journal.

The current images of the ids are read from the source and appended to the journal
(an upsert of the ids the source has, a delete of the ones it does not), so they take
their place in the journal order like any app write. Inside a running proxy the
applier applies them and repair waits for it; offline they are applied here at once
(and again, harmlessly, by the applier of the next proxy start).

A write may land between reading an image and appending it; the image is then read
again after the append, and appended again if it changed (at most a few rounds), so
the last entry for each id is never older than the source.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import orjson

from adapters.base import CollectionSpec, Record, VectorStore
from proxy.journal.applier import apply_change
from proxy.journal.changes import Change, DeleteRecords, UpsertRecords
from proxy.journal.journal import Journal

ROUNDS = 3
CHUNK = 500


def _fingerprint(records: Sequence[Record], gone: Sequence[str]) -> bytes:
    """The images as bytes, to tell whether a second read saw something else."""
    rows = [[r.id, None if r.embedding is None else r.embedding.tobytes().hex(), r.metadata,
             r.document, r.uri] for r in sorted(records, key=lambda r: r.id)]
    return orjson.dumps([rows, sorted(gone)], option=orjson.OPT_SORT_KEYS)


async def _changes_for(source: VectorStore, spec: CollectionSpec,
                       ids: Sequence[str]) -> tuple[list[Change], bytes]:
    present = await source.get(spec.key, ids)
    have = {r.id for r in present}
    changes: list[Change] = []
    fresh = await source.describe_collection(spec.key) or spec
    if present:
        changes.append(UpsertRecords(fresh, tuple(present)))
    gone = tuple(i for i in ids if i not in have)
    if gone:
        changes.append(DeleteRecords(spec.key, gone))
    return changes, _fingerprint(present, gone)


async def repair_ids(source: VectorStore, target: VectorStore, journal: Journal,
                     spec: CollectionSpec, ids: Sequence[str], applier_running: bool,
                     wait_seconds: float = 300.0) -> dict[str, Any]:
    """Journal (and apply, when no applier runs) the source's images of ``ids``."""
    upserted = deleted = rounds = 0
    last_seq = 0
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids[start:start + CHUNK])
        changes, image = await _changes_for(source, spec, chunk)
        for _round in range(ROUNDS):
            rounds += 1
            last_seq = await journal.append(changes)
            if not applier_running:
                for change in changes:
                    await apply_change(target, change)
            again, image_again = await _changes_for(source, spec, chunk)
            if image_again == image:
                break
            changes, image = again, image_again
        upserted += sum(len(c.records) for c in changes if isinstance(c, UpsertRecords))
        deleted += sum(len(c.ids) for c in changes if isinstance(c, DeleteRecords))
    if applier_running and last_seq:
        await _wait_applied(journal, last_seq, wait_seconds)
    return {"collection": str(spec.key), "ids": len(ids), "upserted": upserted,
            "deleted": deleted, "journal_entries_rounds": rounds, "journal_position": last_seq}


async def _wait_applied(journal: Journal, seq: int, wait_seconds: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while (await journal.stats()).applied < seq:
        if loop.time() > deadline:
            raise TimeoutError(f"the applier did not reach journal position {seq}")
        await asyncio.sleep(0.1)
