"""Journal retention: what the pruner deletes, what it must keep, and the file it leaves."""

from __future__ import annotations

import sqlite3
import time
import urllib.request
from pathlib import Path

import chromadb
import numpy as np
import pytest
from harness import ProxyProcess, assert_same_rows, chroma_rows, new_port, proxy_config, qdrant_rows

from adapters.base import CollectionKey, CollectionSpec, Record
from proxy.core.events import EventBus, JournalPruned
from proxy.journal.changes import UpsertRecords
from proxy.journal.journal import APPLIER_CURSOR, REVERSE_CURSOR, SOURCE, TARGET, Journal
from proxy.journal.pruner import JournalPruner
from proxy.migration.backfill_state import CheckpointFile, CollectionCheckpoint, backfill_floor
from proxy.upstream.embedded_chroma import EmbeddedChroma

SPEC = CollectionSpec(CollectionKey("docs"), dimension=64)


def _change(i: int) -> UpsertRecords:
    vector = np.full(64, float(i), dtype=np.float32)
    return UpsertRecords(SPEC, (Record(f"id-{i}", vector, {"i": i}, "x" * 2000),))


async def _journal_with(tmp_path: Path, n: int, destination: str = TARGET) -> Journal:
    journal = await Journal(tmp_path / "journal.sqlite").open()
    for i in range(n):
        await journal.append([_change(i)], destination=destination)
    return journal


def _seqs(journal: Journal) -> list[int]:
    with sqlite3.connect(journal.path) as db:
        return [int(r[0]) for r in db.execute("SELECT seq FROM entries ORDER BY seq")]


@pytest.mark.asyncio
async def test_prunes_only_applied_entries_beyond_the_window(tmp_path: Path) -> None:
    journal = await _journal_with(tmp_path, 100)
    events, seen = EventBus(), list[JournalPruned]()
    events.subscribe(JournalPruned, seen.append)
    try:
        await journal.set_cursor(APPLIER_CURSOR, 60)
        deleted = await JournalPruner(journal, 10, events).prune_once()
        assert deleted == 50
        assert _seqs(journal) == list(range(51, 101))
        assert seen == [JournalPruned(50, 50)]
        # What the applier has not applied is untouched, and still reads back in order.
        rest = await journal.read_after(60, 100)
        assert [e.seq for e in rest] == list(range(61, 101))
        first = rest[0].change
        assert isinstance(first, UpsertRecords) and first.records[0].id == "id-60"
        # Nothing new to prune: no event.
        assert await JournalPruner(journal, 10, events).prune_once() == 0
        assert len(seen) == 1
    finally:
        await journal.close()


@pytest.mark.asyncio
async def test_an_unfinished_backfill_keeps_its_catch_up(tmp_path: Path) -> None:
    journal = await _journal_with(tmp_path, 80)
    checkpoints = tmp_path / "backfill.json"
    file = CheckpointFile(checkpoints)
    file.put("docs", CollectionCheckpoint(start_seq=20, replayed_to=30))
    file.put("done", CollectionCheckpoint(start_seq=1, replayed_to=1, done=True))
    try:
        await journal.set_cursor(APPLIER_CURSOR, 80)
        pruner = JournalPruner(journal, 0, EventBus(), lambda: backfill_floor(checkpoints))
        assert await pruner.prune_once() == 30
        assert _seqs(journal)[0] == 31  # the catch-up resumes at 31
        # Once that backfill is done, the window alone decides.
        file.put("docs", CollectionCheckpoint(start_seq=20, replayed_to=80, done=True))
        assert await pruner.prune_once() == 50
        assert _seqs(journal) == []
    finally:
        await journal.close()


@pytest.mark.asyncio
async def test_each_destination_follows_its_own_applier(tmp_path: Path) -> None:
    journal = await _journal_with(tmp_path, 20, destination=TARGET)
    for i in range(20):
        await journal.append([_change(i)], destination=SOURCE)
    try:
        await journal.set_cursor(APPLIER_CURSOR, 40)  # forward applier: all target entries
        await journal.set_cursor(REVERSE_CURSOR, 30)  # reverse applier: 21..30 applied
        assert await JournalPruner(journal, 0, EventBus()).prune_once() == 30
        with sqlite3.connect(journal.path) as db:
            left = db.execute("SELECT seq, destination FROM entries ORDER BY seq").fetchall()
        assert left == [(seq, SOURCE) for seq in range(31, 41)]
        stats = await journal.stats()
        assert (stats.reverse.head, stats.reverse.lag_entries) == (40, 10)
    finally:
        await journal.close()


@pytest.mark.asyncio
async def test_pruning_gives_the_space_back(tmp_path: Path) -> None:
    journal = await _journal_with(tmp_path, 300)
    try:
        await journal.set_cursor(APPLIER_CURSOR, 300)
        before = _page_count(journal.path)
        assert await JournalPruner(journal, 0, EventBus()).prune_once() == 300
        after = _page_count(journal.path)
        assert after < before / 4, (before, after)
        await journal.append([_change(1)])  # still a working journal
        assert (await journal.stats()).head == 301
    finally:
        await journal.close()


def _page_count(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("PRAGMA page_count").fetchone()[0])


def test_a_running_proxy_prunes_and_still_converges(
    tmp_path: Path, fresh_chroma: EmbeddedChroma
) -> None:
    config = proxy_config(
        tmp_path, fresh_chroma.url, new_port(),
        journal={"retain_applied": 5, "prune_interval_seconds": 0.2},
    )  # fmt: skip
    proxy = ProxyProcess(tmp_path, config).start()
    try:
        client = chromadb.HttpClient(host="127.0.0.1", port=proxy.port)
        collection = client.create_collection("pruned")
        rng = np.random.default_rng(7)
        for batch in range(30):
            ids = [f"b{batch}-{i}" for i in range(10)]
            collection.upsert(ids=ids, embeddings=rng.normal(size=(10, 8)).tolist())
        collection.delete(ids=["b0-0", "b29-9"])
        proxy.wait_caught_up()
        deadline = time.monotonic() + 30
        while _pruned(proxy) == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _pruned(proxy) >= 20  # 31 entries applied, at most the last 5 (+1 pass) kept
        proxy.stop()
        with sqlite3.connect(tmp_path / "journal.sqlite") as db:
            left = int(db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
        assert left <= 10
        source = chroma_rows(fresh_chroma.url, "pruned")
        assert len(source) == 298
        assert_same_rows(source, qdrant_rows(tmp_path / "qdrant", "pruned"), cosine=False)
    finally:
        proxy.kill()


def _pruned(proxy: ProxyProcess) -> float:
    with urllib.request.urlopen(f"{proxy.url}/metrics") as response:
        text = response.read().decode()
    for line in text.splitlines():
        if line.startswith("vecbridge_journal_pruned_entries_total "):
            return float(line.split()[1])
    raise AssertionError("vecbridge_journal_pruned_entries_total is not exported")
