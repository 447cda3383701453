"""The journal's destination column: separate streams, separate lag, old files readable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from adapters.base import CollectionKey
from proxy.journal.changes import DeleteRecords
from proxy.journal.journal import REVERSE_CURSOR, SOURCE, Journal


def _delete(name: str) -> DeleteRecords:
    return DeleteRecords(CollectionKey(name), ("a",))


async def test_destinations_have_their_own_stream_and_lag(tmp_path: Path) -> None:
    journal = await Journal(tmp_path / "j.sqlite").open()
    try:
        await journal.append([_delete("fwd1")])
        await journal.append([_delete("rev1"), _delete("rev2")], destination=SOURCE)
        await journal.append([_delete("fwd2")])
        forward = await journal.read_after(0, 10)
        reverse = await journal.read_after(0, 10, destination=SOURCE)
        assert [str(e.change.collection) for e in forward] == ["fwd1", "fwd2"]
        assert [str(e.change.collection) for e in reverse] == ["rev1", "rev2"]
        stats = await journal.stats()
        assert (stats.head, stats.lag_entries) == (4, 2)
        assert (stats.reverse.head, stats.reverse.lag_entries) == (3, 2)
        await journal.set_cursor(REVERSE_CURSOR, reverse[-1].seq)
        stats = await journal.stats()
        assert stats.reverse.lag_entries == 0 and stats.lag_entries == 2
    finally:
        await journal.close()


async def test_a_journal_from_before_destinations_opens_and_counts_as_target(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE entries (seq INTEGER PRIMARY KEY AUTOINCREMENT, created REAL NOT NULL,"
        " kind TEXT NOT NULL, collection TEXT NOT NULL, body BLOB NOT NULL);"
    )
    db.execute("INSERT INTO entries (created, kind, collection, body) VALUES (1, 'x', 'c', ?)",
               (b'{"kind":"delete_records","key":["default_tenant","default_database","c"],'
                b'"ids":["a"]}',))  # fmt: skip
    db.commit()
    db.close()
    journal = await Journal(path).open()
    try:
        assert [e.seq for e in await journal.read_after(0, 10)] == [1]
        assert await journal.read_after(0, 10, destination=SOURCE) == []
        assert (await journal.stats()).lag_entries == 1
    finally:
        await journal.close()
