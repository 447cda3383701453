"""Qdrant through qdrant-client as a ``VectorStore`` (a server by URL, or local mode).

The store itself (layout, catalog, seq order) is :class:`~adapters.qdrant_points_store.
PointsStore`; this module opens the client and runs every call on ONE dedicated worker
thread: local mode (``:memory:`` / ``path=``) is neither thread-safe nor non-blocking
(its SQLite connection belongs to the thread that opened it), and the same code path
serves a remote server by URL. Other modules that need extra client calls (filter
translation, reads) run them through :meth:`QdrantStore.run`, on the same thread and
with the same error translation (:mod:`adapters.qdrant_errors`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from qdrant_client import QdrantClient

from adapters.qdrant_client_points import ClientPoints
from adapters.qdrant_errors import translate, translate_errors
from adapters.qdrant_points_store import PointsStore

T = TypeVar("T")


class QdrantStore(PointsStore):
    """``VectorStore`` over one Qdrant (server by URL, or embedded local mode)."""

    def __init__(self, executor: ThreadPoolExecutor, client: QdrantClient, exact: bool) -> None:
        """Use :meth:`open`; this wraps an already opened client living on ``executor``."""
        super().__init__(executor, ClientPoints(client), translate, exact)
        self._client = client
        self._thread = executor

    @classmethod
    def open(
        cls,
        url: str | None = None,
        api_key: str | None = None,
        path: Path | str | None = None,
        timeout: float = 10.0,
        exact: bool = False,
    ) -> QdrantStore:
        """Connect to ``url`` (REST), else open ``path`` (or ``":memory:"``) in local mode.

        Blocks while a local ``path`` is loaded; meant for start-up.
        """
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qdrant")

        def connect() -> QdrantClient:
            if url is not None:
                return QdrantClient(
                    url=url,
                    api_key=api_key,
                    timeout=max(1, round(timeout)),
                    check_compatibility=False,  # no network call at start; health() checks
                )
            return QdrantClient(location=":memory:" if path in (None, ":memory:") else None,
                                path=None if path in (None, ":memory:") else str(path))

        try:
            # local mode's SQLite connection belongs to the thread that opens it
            client = executor.submit(translate_errors(connect)).result()
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(executor, client, exact)

    @property
    def client(self) -> QdrantClient:
        """The client; only touch it inside a function given to :meth:`run`."""
        return self._client

    async def run(self, fn: Callable[[QdrantClient], T]) -> T:
        """Run ``fn(client)`` on the store's worker thread, engine errors translated."""
        loop = asyncio.get_running_loop()
        call = translate_errors(functools.partial(fn, self._client))
        return await loop.run_in_executor(self._thread, call)

    async def health(self) -> bool:
        """True when the store answers a cheap call."""
        try:
            await self.run(lambda c: c.get_collections())
        except Exception:
            return False
        return True

    async def close(self) -> None:
        """Close the client (releases a local ``path`` lock) and stop the worker thread."""
        with contextlib.suppress(Exception):
            await self.run(lambda c: c.close())
        self._thread.shutdown(wait=True)
