"""The shadow mismatch log: one JSON line per comparison that was not a match.

``GET /-/shadow`` keeps only the worst few mismatches, in memory; this file keeps them
all (``shadow.mismatch_log``), for ``jq``/``grep`` after the fact. A line holds what is
needed to find the read again and judge it: time, collection, route, category, recall,
k, both latencies and at most a few missing/extra ids. Never request bodies, vectors,
documents or metadata: the app's data stays out of the log.

Serving never waits on it. Shadow workers call :meth:`MismatchLog.add`, which only
serialises the line into a bounded buffer (lines past the bound are dropped and
counted); :meth:`MismatchLog.run` writes the buffer from a worker thread every
``FLUSH_SECONDS`` or once ``FLUSH_LINES`` wait. Past ``max_bytes`` the file is renamed to
``<file>.1`` (replacing the previous one), so the log takes at most about twice
``max_bytes`` of disk. A failed write is logged once (then at debug level), counted, and
its lines are lost.

``error`` and ``timeout`` say the other store failed rather than disagreed; when it is
down every sampled read fails, so each is logged at most once per ``error_interval``
seconds (per category), and the line says how many were left out since (``suppressed``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("vecbridge.shadow")

FLUSH_SECONDS = 1.0
FLUSH_LINES = 64
MAX_PENDING = 2000
ERROR_INTERVAL = 10.0
THROTTLED = frozenset({"error", "timeout"})


class MismatchLog:
    """A size-capped, rotated JSON-lines file, written off the event loop."""

    def __init__(
        self,
        path: Path,
        max_bytes: int,
        error_interval: float = ERROR_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._error_interval = error_interval
        self._clock = clock
        self._pending: list[bytes] = []
        self._wake = asyncio.Event()
        self._lock = threading.Lock()  # one writer at a time: the flusher and the final flush
        self._last_logged: dict[str, float] = {}
        self._held_back: Counter[str] = Counter()
        self.written = 0
        self.dropped = 0  # buffer full
        self.suppressed = 0  # errors/timeouts within the interval
        self.lost = 0  # lines of failed writes
        self.errors = 0
        self.rotations = 0

    def add(self, entry: dict[str, Any]) -> None:
        """Queue one mismatch for the file; never blocks, never raises on a full buffer."""
        category = str(entry.get("category"))
        if category in THROTTLED:
            now = self._clock()
            last = self._last_logged.get(category)
            if last is not None and now - last < self._error_interval:
                self._held_back[category] += 1
                self.suppressed += 1
                return
            self._last_logged[category] = now
            entry = {**entry, "suppressed": self._held_back.pop(category, 0)}
        if len(self._pending) >= MAX_PENDING:
            self.dropped += 1
            return
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self._pending.append(orjson.dumps({"time": stamp, **entry}) + b"\n")
        if len(self._pending) >= FLUSH_LINES:
            self._wake.set()

    async def run(self) -> None:
        """Flush periodically until cancelled; then write what is left (at shutdown)."""
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), FLUSH_SECONDS)
                self._wake.clear()
                await self.flush()
        finally:
            self._write(self._take())

    async def flush(self) -> None:
        """Write every buffered line now (from a worker thread)."""
        lines = self._take()
        if lines:
            await asyncio.to_thread(self._write, lines)

    def snapshot(self) -> dict[str, Any]:
        """Where the log is and what happened to its lines (for ``GET /-/shadow``)."""
        return {
            "path": str(self.path), "max_bytes": self.max_bytes, "written": self.written,
            "pending": len(self._pending), "dropped": self.dropped,
            "suppressed": self.suppressed, "lost": self.lost, "errors": self.errors,
            "rotations": self.rotations,
        }  # fmt: skip

    def _take(self) -> list[bytes]:
        lines, self._pending = self._pending, []
        return lines

    def _write(self, lines: list[bytes]) -> None:
        if not lines:
            return
        with self._lock:
            before = self.written
            try:
                self._append(lines)
            except OSError as exc:
                self._failed(exc, len(lines) - (self.written - before))

    def _append(self, lines: list[bytes]) -> None:
        """Append ``lines``, rotating whenever the next line would pass ``max_bytes``."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            size = 0
        chunk: list[bytes] = []
        for line in lines:
            if size and size + len(line) > self.max_bytes:
                self._write_chunk(chunk)
                chunk = []
                os.replace(self.path, self.path.with_name(self.path.name + ".1"))
                self.rotations += 1
                size = 0
            chunk.append(line)
            size += len(line)
        self._write_chunk(chunk)

    def _write_chunk(self, chunk: list[bytes]) -> None:
        if not chunk:
            return
        with self.path.open("ab") as file:
            file.write(b"".join(chunk))
        self.written += len(chunk)

    def _failed(self, exc: OSError, lines: int) -> None:
        self.errors += 1
        self.lost += lines
        if self.errors == 1:
            log.warning("shadow mismatch log %s not writable (%s); mismatches are not logged "
                        "to it until it is", self.path, exc)  # fmt: skip
        else:
            log.debug("shadow mismatch log write failed: %s", exc)
