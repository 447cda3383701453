"""Periodic health checks of both stores, cached so status and probes never wait on them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from adapters.base import VectorStore
from proxy.ops.metrics import Metrics
from proxy.upstream.forwarder import Forwarder

CHECK_TIMEOUT_SECONDS = 2.0


@dataclass
class StoreHealth:
    healthy: bool = False
    checked_at: float = 0.0
    error: str | None = None


class HealthMonitor:
    """Keeps the last health result of the source (primary) and the target store."""

    def __init__(self, source: Forwarder, target: VectorStore, metrics: Metrics) -> None:
        self._source = source
        self._target = target
        self._metrics = metrics
        self.source = StoreHealth()
        self.target = StoreHealth()

    async def check_once(self) -> None:
        self.source = await self._check(self._source.healthy())
        self.target = await self._check(self._target_ok())
        self._metrics.store_up.labels(store="source").set(1 if self.source.healthy else 0)
        self._metrics.store_up.labels(store="target").set(1 if self.target.healthy else 0)

    async def _target_ok(self) -> bool:
        await self._target.list_collections()
        return True

    @staticmethod
    async def _check(probe: Coroutine[Any, Any, bool]) -> StoreHealth:
        try:
            ok = await asyncio.wait_for(probe, CHECK_TIMEOUT_SECONDS)
        except Exception as exc:
            return StoreHealth(False, time.time(), f"{type(exc).__name__}: {exc}")
        return StoreHealth(bool(ok), time.time(), None if ok else "unhealthy")

    async def run(self, interval: float = 2.0) -> None:
        while True:
            await self.check_once()
            await asyncio.sleep(interval)
