"""Write ordering locks: writes to one collection run one at a time.

That makes the journal order the order the primary applied the writes. Per-id locking
(writes on disjoint ids in parallel) was tried and dropped: Chroma 1.5.9, when it runs
several writes on one collection at once, was seen to answer a read-back with an
embedding other than the one it finally kept (1 id in 10,000 mixed operations from 8
writers), which would leave the target with a stale vector. One write at a time per
collection costs throughput, never correctness; collections still write in parallel.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable, Iterable
from contextlib import asynccontextmanager


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


class WriteLocks:
    """One mutex per collection, created on demand and dropped when idle."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def collection(self, key: Hashable) -> AsyncIterator[None]:
        """Hold the whole collection."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    @asynccontextmanager
    async def ids(self, key: Hashable, ids: Iterable[str]) -> AsyncIterator[None]:
        """Order a write that names its ids: the whole collection (see the module docstring)."""
        async with self.collection(key):
            yield

    def __len__(self) -> int:
        return len(self._locks)
