"""Qdrant Edge (``qdrant-edge-py``, Qdrant's own engine in-process) as a ``VectorStore``.

The layout (uuid5 point ids, the catalog, cosine originals in the payload, ``seq``) and
every store method are :class:`~adapters.qdrant_points_store.PointsStore`'s, the same
code as the qdrant-client store; the engine is :class:`~adapters.qdrant_edge_points.
EdgePoints`, one ``EdgeShard`` per collection under the store's directory. Reads in
Chroma's semantics run through :meth:`EdgeStore.run` like QdrantStore's:
``store.run(lambda points: qdrant_reads.get(ReadTarget(points, name, ...), request))``.

Threads. Every engine call is a blocking Rust call run on the store's pool
(``EdgeOptions.workers`` threads), never on the event loop. Edge 0.9.0 holds the GIL for
the length of each call, so a call still pauses the loop for its own duration (a
top-10 query ~1 ms, an upsert of 1,000 x 384 ~15 ms, a flush ~20 ms); only optimize
runs long, and it runs in a child process (:mod:`adapters.qdrant_edge_optimize`).

Durability. The WAL is always on. A write is in the WAL when ``upsert`` / ``delete``
returns, and the WAL survives a SIGKILL of the proxy (it is in the OS's page cache):
what the applier recorded as applied is kept. ``flush_on_write=True`` also flushes
(fsyncs) every write before it returns, so it survives a crash of the host too, for
~17 ms per write. Otherwise shards are flushed after a write at most every
``flush_interval_seconds`` (bounding the WAL replayed at the next open), after every
optimization, and at close.

Optimize (HNSW). New points land in a plain segment, searched by full scan (exact).
When a collection has ``optimize_threshold`` more unindexed points than after its last
optimization, a background optimization of it starts (one at a time, on the store's
maintenance thread, the index built by a niced child process with
``indexing_threads``); :meth:`EdgeStore.optimize` runs one now. Segments under
``full_scan_threshold_kb`` are always scanned, under ``indexing_threshold_kb`` never
indexed. After an optimization, searches are approximate (HNSW) like a Qdrant
server's, unless the store was opened with ``exact=True`` or the request asks for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from adapters import qdrant_layout as layout
from adapters.base import CollectionKey, StoreRejected
from adapters.qdrant_edge_optimize import Optimizer, recover
from adapters.qdrant_edge_points import EdgeOptions, EdgePoints, translate
from adapters.qdrant_points import Points
from adapters.qdrant_points_store import PointsStore

__all__ = ["EdgeOptions", "EdgeStore"]

T = TypeVar("T")
log = logging.getLogger(__name__)


class EdgeStore(PointsStore):
    """``VectorStore`` over Qdrant Edge shards in one directory (one process at a time)."""

    def __init__(self, points: EdgePoints, exact: bool = False) -> None:
        """Use :meth:`open`; this wraps already opened (and recovered) shards."""
        options = points.options
        pool = ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="edge")
        super().__init__(pool, points, translate, exact)
        self.options = options
        self._edge = points
        self._pool = pool
        self._maintenance = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edge-optimize")
        self._optimizer = Optimizer(points)
        self._pending: dict[str, Future[None]] = {}
        self._baseline: dict[str, int] = {}  # unindexed points after the last optimization
        self._policy = threading.Lock()
        self._last_flush = time.monotonic()

    @classmethod
    def open(cls, path: Path | str, exact: bool = False,
             options: EdgeOptions | None = None) -> EdgeStore:  # fmt: skip
        """Open (or start) the store in directory ``path``; blocks, meant for start-up.

        Takes the catalog shard's lock: a second process on the same directory gets
        StoreUnavailable. A qdrant-client local-mode directory is refused (StoreRejected).
        """
        root = Path(path)
        if (root / "meta.json").exists() and (root / "collection").is_dir():
            raise StoreRejected(
                f"{root} holds qdrant-client local-mode data, not Qdrant Edge shards: open it "
                "in local mode, or give Edge an empty directory and backfill into it"
            )
        points = EdgePoints(root, options or EdgeOptions())
        recover(points)
        store = cls(points, exact)
        try:
            store._translated(store._open_catalog, points)
        except BaseException:
            store._shutdown_threads()
            raise
        return store

    def _open_catalog(self, p: EdgePoints) -> None:
        self.catalog.all(p)  # creates it when missing, then loads (and locks) its shard

    # -- plumbing -----------------------------------------------------------------------

    async def run(self, fn: Callable[[EdgePoints], T]) -> T:
        """Run ``fn(points)`` on a worker thread, engine errors translated."""
        return await self._call(lambda p: fn(self._edge))

    async def health(self) -> bool:
        """True when the catalog shard answers."""
        try:
            await self._call(lambda p: p.count(layout.CATALOG_COLLECTION))
        except Exception:
            return False
        return True

    async def flush(self) -> None:
        """Flush every open shard now."""
        await self._call(lambda p: self._flush_all())

    async def optimize(self, key: CollectionKey | None = None) -> None:
        """Build the HNSW index of ``key`` (every collection when None) now, and wait."""
        specs = [key] if key is not None else [s.key for s in await self.list_collections()]
        loop = asyncio.get_running_loop()
        for one in specs:
            name = layout.collection_name(one)
            await loop.run_in_executor(self._maintenance, self._optimize, name)

    async def close(self) -> None:
        """Stop optimizing, flush and close every shard, stop the threads."""
        self._optimizer.stop()
        await asyncio.to_thread(self._maintenance.shutdown, wait=True)
        with contextlib.suppress(Exception):
            await self._call(lambda p: self._edge.close())
        self._shutdown_threads()

    def _shutdown_threads(self) -> None:
        self._optimizer.stop()
        self._maintenance.shutdown(wait=True)
        self._pool.shutdown(wait=True)

    # -- flush and optimize policy (on worker threads) -------------------------------------

    def _after_write(self, p: Points, name: str) -> None:
        interval = self.options.flush_interval_seconds
        if interval is not None and not self.options.flush_on_write:
            now = time.monotonic()
            with self._policy:
                due = now - self._last_flush >= interval
                if due:
                    self._last_flush = now
            if due:
                self._flush_all()
        threshold = self.options.optimize_threshold
        if threshold is None or name in self._pending:
            return
        unindexed = self._edge.unindexed(name)
        with self._policy:
            # fewer than after the last optimization: points were deleted, or re-created
            baseline = self._baseline[name] = min(self._baseline.get(name, 0), unindexed)
            if unindexed - baseline >= threshold and name not in self._pending:
                self._pending[name] = self._maintenance.submit(self._optimize_logged, name)

    def _flush_all(self) -> None:
        for name in self._edge.open_names():
            with contextlib.suppress(Exception):  # dropped meanwhile
                self._edge.flush(name)

    def _optimize(self, name: str) -> None:
        if self._optimizer.run(name):
            unindexed = self._edge.unindexed(name)
            with self._policy:
                self._baseline[name] = unindexed

    def _optimize_logged(self, name: str) -> None:
        """A background optimization: a failure is logged (the collection stays as it was)."""
        try:
            self._optimize(name)
        except Exception:
            log.exception("qdrant edge: optimizing %s failed", name)
        finally:
            with self._policy:
                self._pending.pop(name, None)
