"""Catch-up and resume, in-process with in-memory stores: a page read before a delete or a
newer write and written after the applier applied it never wins; a killed copy resumes
from its checkpoint redoing at most one batch."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from adapters.base import CollectionKey, CollectionSpec, Page, Record, Space
from adapters.memory import MemoryStore
from proxy.journal.applier import apply_change
from proxy.journal.changes import DeleteRecords, UpsertRecords
from proxy.journal.journal import Journal
from proxy.migration.backfill import BackfillOptions, run_backfill
from proxy.migration.backfill_state import CheckpointFile

KEY = CollectionKey("c")
SPEC = CollectionSpec(KEY, Space.L2, 4)


def _record(i: int, tag: str = "old") -> Record:
    return Record(f"r{i}", np.full(4, i, dtype=np.float32), {"tag": tag}, f"doc {i}")


class RacingSource(MemoryStore):
    """After handing out the last page, the app deletes r6 and rewrites r7 through the
    proxy: journaled and already applied to the target, before the page is written.
    (The last page, because MemoryStore's offset cursor is not safe under deletes.)"""

    def __init__(self, journal: Journal, target: MemoryStore) -> None:
        super().__init__()
        self.journal, self.target, self.raced = journal, target, False

    async def scroll(self, key: CollectionKey, cursor: str | None, limit: int) -> Page:
        page = await super().scroll(key, cursor, limit)
        if cursor is not None and not self.raced:
            self.raced = True
            newer = _record(7, "new")
            await super().delete(KEY, ["r6"])
            await super().upsert(SPEC, [newer])
            for change in (DeleteRecords(KEY, ("r6",)), UpsertRecords(SPEC, (newer,))):
                await self.journal.append([change])
                await apply_change(self.target, change)
        return page


async def _records(store: MemoryStore) -> dict[str, tuple[bytes, object]]:
    page = await store.scroll(KEY, None, 10_000)
    return {r.id: (r.embedding.tobytes(), r.metadata) for r in page.records}  # type: ignore[union-attr]


async def test_catch_up_beats_stale_pages(tmp_path: Path) -> None:
    journal = await Journal(tmp_path / "journal.sqlite").open()
    target = MemoryStore()
    source = RacingSource(journal, target)
    await MemoryStore.upsert(source, SPEC, [_record(i) for i in range(10)])
    run = await run_backfill(source, target, journal, [SPEC], BackfillOptions(batch_size=5))
    assert run.as_dict()["passed"]
    assert run.collections["c"].replayed_entries == 2
    got = await _records(target)
    assert "r6" not in got  # the delete was not undone by the stale page
    assert got["r7"][1] == {"tag": "new"}  # nor the newer write overwritten
    assert got == await _records(source)
    await journal.close()


class Killed(Exception):
    pass


class DyingTarget(MemoryStore):
    def __init__(self, die_after: int) -> None:
        super().__init__()
        self.calls, self.die_after, self.written = 0, die_after, 0

    async def upsert(self, spec: CollectionSpec, records: object) -> None:
        self.calls += 1
        if self.calls > self.die_after:
            raise Killed()
        self.written += len(records)  # type: ignore[arg-type]
        await super().upsert(spec, records)  # type: ignore[arg-type]


async def test_resume_redoes_at_most_one_batch(tmp_path: Path) -> None:
    journal = await Journal(tmp_path / "journal.sqlite").open()
    source = MemoryStore()
    await source.upsert(SPEC, [_record(i) for i in range(1000)])
    target = DyingTarget(die_after=7)
    with pytest.raises(Exception, match="Killed"):
        await run_backfill(source, target, journal, [SPEC],
                           BackfillOptions(batch_size=100, concurrency=1))
    saved = CheckpointFile(tmp_path / "backfill.json").get("c")
    assert saved is not None and saved.copied == 700 and not saved.copy_done
    target.die_after = 10**9
    run = await run_backfill(source, target, journal, [SPEC],
                             BackfillOptions(batch_size=100, concurrency=3))
    progress = run.collections["c"]
    assert progress.resumed_from == 700 and progress.state == "done"
    assert target.written - 1000 <= 100  # at most the one batch in flight was redone
    assert await _records(target) == await _records(source)
    await journal.close()


async def test_rate_limit_and_concurrency(tmp_path: Path) -> None:
    journal = await Journal(tmp_path / "journal.sqlite").open()
    source, target = MemoryStore(), MemoryStore()
    await source.upsert(SPEC, [_record(i) for i in range(300)])
    loop = asyncio.get_running_loop()
    began = loop.time()
    await run_backfill(source, target, journal, [SPEC],
                       BackfillOptions(batch_size=100, concurrency=4, rate_limit=1000))
    assert loop.time() - began >= 0.2  # 300 records at 1000/s: at least the 3rd page waits
    assert await _records(target) == await _records(source)
    await journal.close()
