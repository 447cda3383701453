"""The durable, ordered journal between the primary and the secondary store.

One SQLite file in WAL mode. Every database call runs on one dedicated thread, so
SQLite never sees two writers and the event loop never blocks on a disk flush.
Appends are group-committed: whatever accumulated while the previous commit was
flushing goes out in the next single transaction, and each caller's future resolves
only after that transaction is durable (``synchronous=FULL``: fsync'ed).

Intents are committed with ``synchronous=NORMAL`` unless ``intent_fsync`` is set: the
intent reaches the operating system before the write is forwarded, so it survives a
crash of the proxy (SIGKILL, OOM), and the next FULL commit (the write's own entries,
before the app is answered) flushes it with everything else in the WAL. Only a crash
of the whole host between the forward and that flush can lose an intent, and then
only for a write the app was never acknowledged; ``vecbridge validate --repair``
finds and mends the difference. ``intent_fsync`` closes that window for one more
fsync per write.

Tables
    entries       seq (the order the primary applied the writes), created, kind, collection, body,
                  destination: 'target' (the new store; the forward applier) or 'source' (the
                  old store, written back from cutover on by the reverse applier)
    intents       writes forwarded to the primary but not yet journaled; a crash leaves
                  them behind, and start-up re-captures their state from the primary
    dead_letters  entries the secondary refused for good, with the error
    cursors       named positions (the applier's checkpoint, backfill start marks)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from proxy.core.tasks import TaskGroup
from proxy.journal.changes import Change, change_kind, decode_change, encode_change

T = TypeVar("T")

APPLIER_CURSOR = "applier"
REVERSE_CURSOR = "reverse_applier"
TARGET = "target"
SOURCE = "source"
DESTINATIONS = (TARGET, SOURCE)
PRUNE_CHUNK = 2000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    kind TEXT NOT NULL,
    collection TEXT NOT NULL,
    body BLOB NOT NULL,
    destination TEXT NOT NULL DEFAULT 'target'
);
CREATE TABLE IF NOT EXISTS intents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY,
    created REAL NOT NULL,
    failed_at REAL NOT NULL,
    kind TEXT NOT NULL,
    collection TEXT NOT NULL,
    body BLOB NOT NULL,
    error TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
"""

# Every hot query filters by destination and a seq range. Without this index SQLite scans
# the table, and reading ``destination`` (stored after the large ``body``) walks each
# row's overflow pages: a lag check cost as much as reading the whole journal.
_DESTINATION_INDEX = (
    "CREATE INDEX IF NOT EXISTS entries_by_destination ON entries (destination, seq, created)"
)


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    created: float
    change: Change


@dataclass(frozen=True)
class DeadLetter:
    seq: int
    created: float
    failed_at: float
    kind: str
    collection: str
    error: str


@dataclass(frozen=True)
class DirectionStats:
    """Lag of one destination: its last entry, its applier's checkpoint, what is left."""

    head: int
    applied: int
    lag_entries: int
    lag_seconds: float


@dataclass(frozen=True)
class JournalStats:
    """``head`` .. ``lag_seconds`` are the forward (target) direction; ``reverse`` the other."""

    head: int
    applied: int
    lag_entries: int
    lag_seconds: float
    dead_letters: int
    pending_intents: int
    reverse: DirectionStats = DirectionStats(0, 0, 0, 0.0)


@dataclass
class _Work:
    """One caller's part of a group commit: runs inside the shared transaction."""

    run: Callable[[sqlite3.Connection, float], int]
    done: asyncio.Future[int]
    fsync: bool = True  # False: an intent, committed with synchronous=NORMAL


class Journal:
    """Durable ordered log of changes; see the module docstring."""

    def __init__(
        self, path: Path, group_commit_max: int = 512, intent_fsync: bool = False
    ) -> None:
        self.path = path
        self._group_commit_max = group_commit_max
        self._intent_fsync = intent_fsync
        self._synchronous = "FULL"
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        self._conn: sqlite3.Connection | None = None
        self._queue: asyncio.Queue[_Work] = asyncio.Queue()
        self._tasks = TaskGroup("journal")
        self._appended = asyncio.Event()

    # lifecycle -----------------------------------------------------------------
    async def open(self) -> Journal:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        await self._run(self._open_sync)
        self._tasks.spawn(self._commit_loop(), name="journal-group-commit")
        return self

    def _open_sync(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        # Only takes effect on a new, empty file: lets pruning shrink the journal.
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(_SCHEMA)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(entries)")}
        if "destination" not in columns:  # a journal written before destinations existed
            conn.execute(
                "ALTER TABLE entries ADD COLUMN destination TEXT NOT NULL DEFAULT 'target'"
            )
        conn.execute(_DESTINATION_INDEX)
        self._conn = conn

    async def close(self) -> None:
        await self._tasks.cancel_all()
        if self._conn is not None:
            await self._run(self._conn.close)
            self._conn = None
        self._executor.shutdown(wait=True)

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("journal is not open")
        return self._conn

    # group commit ------------------------------------------------------------------
    async def _transact(
        self, run: Callable[[sqlite3.Connection, float], int], fsync: bool = True
    ) -> int:
        """Run ``run`` inside the next group-committed transaction; returns once durable."""
        return await self._enqueue(run, fsync)

    def _enqueue(
        self, run: Callable[[sqlite3.Connection, float], int], fsync: bool = True
    ) -> asyncio.Future[int]:
        """Queue ``run`` now (the queue order is the commit order); the future resolves
        once its transaction is committed."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Work(run, done, fsync))
        return done

    async def _commit_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < self._group_commit_max:
                batch.append(self._queue.get_nowait())
            try:
                results = await self._run(functools.partial(self._commit_sync, batch))
            except Exception as exc:  # a failed commit fails every caller in it
                for item in batch:
                    if not item.done.done():
                        item.done.set_exception(exc)
                continue
            for item, result in zip(batch, results, strict=True):
                if not item.done.done():
                    item.done.set_result(result)
            self._appended.set()

    def _commit_sync(self, batch: list[_Work]) -> list[int]:
        db = self._db
        now = time.time()
        synchronous = "FULL" if any(item.fsync for item in batch) else "NORMAL"
        if synchronous != self._synchronous:
            db.execute(f"PRAGMA synchronous={synchronous}")
            self._synchronous = synchronous
        db.execute("BEGIN IMMEDIATE")
        try:
            results = [item.run(db, now) for item in batch]
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return results

    async def append(
        self,
        changes: Sequence[Change],
        resolve_intent: int | None = None,
        destination: str = TARGET,
    ) -> int:
        """Durably append changes in order; returns the last seq (0 when none were given).

        ``resolve_intent`` is removed in the same transaction, so a crash can never leave
        both an intent and its changes, nor neither. ``destination`` names the store the
        entries are for (``target``: the new store, ``source``: the old one).
        """
        return await self.append_soon(changes, resolve_intent, destination)

    def append_soon(
        self,
        changes: Sequence[Change],
        resolve_intent: int | None = None,
        destination: str = TARGET,
    ) -> asyncio.Future[int]:
        """:meth:`append`, queued now and awaited later: the place in the journal is
        fixed when this returns, durability when the future resolves. A writer can
        release its ordering lock in between, so the next write overlaps the flush."""
        if destination not in DESTINATIONS:
            raise ValueError(f"unknown journal destination {destination!r}")
        encoded = [(change_kind(c), str(c.collection), encode_change(c)) for c in changes]

        def run(db: sqlite3.Connection, now: float) -> int:
            last = 0
            for kind, collection, body in encoded:
                cur = db.execute(
                    "INSERT INTO entries (created, kind, collection, body, destination) "
                    "VALUES (?,?,?,?,?)",
                    (now, kind, collection, body, destination),
                )
                last = int(cur.lastrowid or 0)
            if resolve_intent is not None:
                db.execute("DELETE FROM intents WHERE id = ?", (resolve_intent,))
            return last

        return self._enqueue(run)

    async def wait_appended(self, timeout: float) -> None:
        """Sleep until something is appended (or the timeout passes)."""
        self._appended.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._appended.wait(), timeout)

    # intents -------------------------------------------------------------------
    async def begin_intent(self, body: bytes) -> int:
        """Record that a write is about to be forwarded (durability: see the module notes)."""

        def run(db: sqlite3.Connection, now: float) -> int:
            cur = db.execute("INSERT INTO intents (created, body) VALUES (?, ?)", (now, body))
            return int(cur.lastrowid or 0)

        return await self._transact(run, fsync=self._intent_fsync)

    async def drop_intent(self, intent_id: int) -> None:
        """The write failed at the primary: nothing to capture."""

        def run(db: sqlite3.Connection, now: float) -> int:
            db.execute("DELETE FROM intents WHERE id = ?", (intent_id,))
            return 0

        await self._transact(run, fsync=self._intent_fsync)

    async def pending_intents(self) -> list[tuple[int, bytes]]:
        rows = await self._run(
            lambda: self._db.execute("SELECT id, body FROM intents ORDER BY id").fetchall()
        )
        return [(int(r[0]), bytes(r[1])) for r in rows]

    # reading and cursors ---------------------------------------------------------
    async def read_after(
        self, seq: int, limit: int, destination: str = TARGET
    ) -> list[JournalEntry]:
        """Entries for ``destination`` with seq > ``seq``, in order."""
        rows = await self._run(
            lambda: self._db.execute(
                "SELECT seq, created, body FROM entries WHERE seq > ? AND destination = ? "
                "ORDER BY seq LIMIT ?",
                (seq, destination, limit),
            ).fetchall()
        )
        return [JournalEntry(int(r[0]), float(r[1]), decode_change(bytes(r[2]))) for r in rows]

    async def cursor(self, name: str) -> int:
        row = await self._run(
            lambda: self._db.execute(
                "SELECT position FROM cursors WHERE name = ?", (name,)
            ).fetchone()
        )
        return int(row[0]) if row else 0

    async def set_cursor(self, name: str, position: int) -> None:
        await self._run(
            lambda: self._db.execute(
                "INSERT INTO cursors (name, position) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET position = excluded.position",
                (name, position),
            )
        )

    async def head(self) -> int:
        row = await self._run(lambda: self._db.execute("SELECT MAX(seq) FROM entries").fetchone())
        return int(row[0] or 0)

    # dead letters ----------------------------------------------------------------
    async def dead_letter(self, entry: JournalEntry, error: str) -> None:
        change = entry.change

        def insert() -> None:
            self._db.execute(
                "INSERT OR REPLACE INTO dead_letters VALUES (?,?,?,?,?,?,?)",
                (
                    entry.seq,
                    entry.created,
                    time.time(),
                    change_kind(change),
                    str(change.collection),
                    encode_change(change),
                    error,
                ),
            )

        await self._run(insert)

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        rows = await self._run(
            lambda: self._db.execute(
                "SELECT seq, created, failed_at, kind, collection, error FROM dead_letters "
                "ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        )
        return [DeadLetter(*row) for row in rows]

    # housekeeping and stats --------------------------------------------------------
    async def prune(self, destination: str, through: int, chunk: int = PRUNE_CHUNK) -> int:
        """Delete ``destination``'s entries with seq <= ``through``; returns how many went.

        In chunks, each its own statement on the journal thread, so group commits
        interleave with a long prune instead of waiting for all of it.
        """

        def delete_chunk() -> int:
            cur = self._db.execute(
                "DELETE FROM entries WHERE seq IN (SELECT seq FROM entries "
                "WHERE destination = ? AND seq <= ? ORDER BY seq LIMIT ?)",
                (destination, through, chunk),
            )
            return int(cur.rowcount)

        total = 0
        while True:
            deleted = await self._run(delete_chunk)
            total += deleted
            if deleted < chunk:
                return total

    async def release_free_pages(self) -> None:
        """Give pages freed by pruning back to the file system (journals created with
        ``auto_vacuum=INCREMENTAL``; a no-op on older ones)."""
        # executescript steps the pragma to the end; execute() frees one page per step.
        await self._run(lambda: self._db.executescript("PRAGMA incremental_vacuum;"))

    async def stats(self) -> JournalStats:
        def read() -> JournalStats:
            db = self._db
            forward = _direction(db, TARGET, APPLIER_CURSOR)
            dead = int(db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0])
            intents = int(db.execute("SELECT COUNT(*) FROM intents").fetchone()[0])
            return JournalStats(
                forward.head, forward.applied, forward.lag_entries, forward.lag_seconds,
                dead, intents, _direction(db, SOURCE, REVERSE_CURSOR),
            )  # fmt: skip

        return await self._run(read)


def _direction(db: sqlite3.Connection, destination: str, cursor: str) -> DirectionStats:
    head = db.execute(
        "SELECT MAX(seq) FROM entries WHERE destination = ?", (destination,)
    ).fetchone()[0]
    row = db.execute("SELECT position FROM cursors WHERE name = ?", (cursor,)).fetchone()
    applied = int(row[0]) if row else 0
    lag, oldest = db.execute(
        "SELECT COUNT(*), MIN(created) FROM entries WHERE seq > ? AND destination = ?",
        (applied, destination),
    ).fetchone()
    lag_seconds = max(0.0, time.time() - float(oldest)) if oldest is not None else 0.0
    return DirectionStats(int(head or 0), applied, int(lag), lag_seconds)


def stored_entries(path: Path) -> dict[str, int]:
    """Entries the journal file holds now, per destination (applied ones until pruned).

    Read on a connection of its own, read-only: a WAL reader neither waits for nor
    delays the journal's writer thread.
    """
    if not path.exists():
        return {}
    # as_uri() escapes what a URI would misread in a path ('?', '#', '%')
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    with contextlib.closing(conn):
        rows = conn.execute("SELECT destination, COUNT(*) FROM entries GROUP BY destination")
        return {str(destination): int(count) for destination, count in rows}
