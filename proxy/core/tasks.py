"""The one way background work is started: named tasks with strong references.

A bare ``asyncio.create_task`` can be garbage-collected mid-flight and its exception
lost; every background coroutine of the proxy goes through :class:`TaskGroup` instead,
which keeps the task, names it, logs its failure and cancels it at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("vecbridge.tasks")


class TaskGroup:
    """Background tasks owned by one component, optionally bounded in count."""

    def __init__(self, owner: str, limit: int | None = None) -> None:
        self.owner = owner
        self.limit = limit
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def has_room(self) -> bool:
        return self.limit is None or len(self._tasks) < self.limit

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any] | None:
        """Start ``coro`` as a named task; returns None (and closes coro) when full."""
        if not self.has_room():
            coro.close()
            return None
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.owner}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("background task %s failed", task.get_name(), exc_info=exc)

    async def cancel_all(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
