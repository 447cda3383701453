"""Fault injection around any VectorStore, for drills and tests (off by default).

Wraps a real store and, per the current settings, makes calls fail as if the store
were down, fail with a given probability, or answer late. The proxy enables it only
when ``faults.enabled`` is set, and exposes it at ``POST /-/faults``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from adapters.base import StoreUnavailable

T = TypeVar("T")


@dataclass(frozen=True)
class FaultSettings:
    """What to inject. ``down`` wins over ``error_rate``; ``latency_seconds`` always adds."""

    down: bool = False
    error_rate: float = 0.0
    latency_seconds: float = 0.0
    reads_only: bool = False

    def updated(self, **changes: Any) -> FaultSettings:
        settings = replace(self, **changes)
        if not 0.0 <= settings.error_rate <= 1.0:
            raise ValueError("error_rate must be within 0..1")
        if settings.latency_seconds < 0:
            raise ValueError("latency_seconds must be >= 0")
        return settings


_READS = frozenset(
    {"get", "scroll", "count", "query", "describe_collection", "list_collections", "run"}
)


class FaultyStore:
    """A VectorStore proxy object that injects the configured faults, then delegates."""

    def __init__(self, inner: Any, seed: int | None = None) -> None:
        self.inner = inner
        self.settings = FaultSettings()
        self._random = random.Random(seed)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name == "close" or name.startswith("_") or not callable(attr):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await self._inject(name, lambda: attr(*args, **kwargs))

        return call

    async def _inject(self, name: str, call: Callable[[], Awaitable[T]]) -> T:
        settings = self.settings
        if settings.reads_only and name not in _READS:
            return await call()
        if settings.latency_seconds:
            await asyncio.sleep(settings.latency_seconds)
        if settings.down:
            raise StoreUnavailable("fault injection: store is down")
        if settings.error_rate and self._random.random() < settings.error_rate:
            raise StoreUnavailable("fault injection: injected error")
        return await call()
