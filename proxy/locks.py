"""Write ordering locks: writes that touch the same ids run one at a time.

(Record writes currently take the whole collection: see ``WriteLocks.ids``.)

Per collection there is a shared/exclusive lock plus id stripes. A write that names its
ids (add, upsert, update, delete by ids) holds the collection shared and the stripes of
its ids, so writes on disjoint ids run concurrently while writes on the same id are
serialised. A write whose ids are only known from a filter (delete by ``where``) or
that changes the collection itself holds the collection exclusively.
Stripes are always taken in ascending order, so two writers never deadlock.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Hashable, Iterable
from contextlib import AsyncExitStack, asynccontextmanager

STRIPES = 64
SERIALISE_COLLECTION_WRITES = True


class SharedExclusiveLock:
    """An asyncio readers-writer lock that lets a waiting exclusive holder go first."""

    def __init__(self) -> None:
        self._cond = asyncio.Condition()
        self._shared = 0
        self._exclusive = False
        self._waiting_exclusive = 0

    @property
    def idle(self) -> bool:
        return not self._shared and not self._exclusive and not self._waiting_exclusive

    @asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        async with self._cond:
            await self._cond.wait_for(lambda: not self._exclusive and not self._waiting_exclusive)
            self._shared += 1
        try:
            yield
        finally:
            async with self._cond:
                self._shared -= 1
                self._cond.notify_all()

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        async with self._cond:
            self._waiting_exclusive += 1
            try:
                await self._cond.wait_for(lambda: not self._exclusive and not self._shared)
            finally:
                self._waiting_exclusive -= 1
            self._exclusive = True
        try:
            yield
        finally:
            async with self._cond:
                self._exclusive = False
                self._cond.notify_all()


class _CollectionLock:
    def __init__(self) -> None:
        self.whole = SharedExclusiveLock()
        self.stripes = [asyncio.Lock() for _ in range(STRIPES)]
        self.users = 0


def stripes_of(ids: Iterable[str]) -> list[int]:
    """The sorted, distinct stripes of ``ids`` (crc32: stable and cheap)."""
    return sorted({zlib.crc32(i.encode()) % STRIPES for i in ids})


class WriteLocks:
    """The ordering locks of every collection, created on demand and dropped when idle."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, _CollectionLock] = {}

    @asynccontextmanager
    async def _entry(self, key: Hashable) -> AsyncIterator[_CollectionLock]:
        lock = self._locks.setdefault(key, _CollectionLock())
        lock.users += 1
        try:
            yield lock
        finally:
            lock.users -= 1
            if lock.users == 0:
                del self._locks[key]

    @asynccontextmanager
    async def ids(self, key: Hashable, ids: Iterable[str]) -> AsyncIterator[None]:
        """Order a write that names its ids.

        With ``SERIALISE_COLLECTION_WRITES`` (the default) this holds the collection
        exclusively, like every other write: Chroma 1.5.9, when it runs several writes on
        one collection at once, was seen to answer a read-back with an embedding other than
        the one it finally kept (1 id in 10,000 mixed operations from 8 writers), which
        would leave the target with a stale vector. One write at a time per collection
        costs throughput, never correctness. Otherwise it holds the collection shared and
        the stripes of ``ids``.
        """
        if SERIALISE_COLLECTION_WRITES:
            async with self.collection(key):
                yield
            return
        async with self._entry(key) as lock, lock.whole.shared(), AsyncExitStack() as stack:
            for stripe in stripes_of(ids):
                await stack.enter_async_context(lock.stripes[stripe])
            yield

    @asynccontextmanager
    async def collection(self, key: Hashable) -> AsyncIterator[None]:
        """Hold the whole collection exclusively."""
        async with self._entry(key) as lock, lock.whole.exclusive():
            yield

    def __len__(self) -> int:
        return len(self._locks)
