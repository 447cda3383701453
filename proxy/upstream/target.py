"""Opening the configured stores through their adapters."""

from __future__ import annotations

import asyncio

from adapters.base import VectorStore
from proxy.core.config import TargetConfig


async def open_target(config: TargetConfig) -> VectorStore:
    """The target store: a Qdrant server by URL, or embedded local mode at ``path``.

    Both go through the same qdrant-client code; only the connection differs.
    """
    from adapters.qdrant import QdrantStore

    api_key = config.api_key.get_secret_value() if config.api_key is not None else None
    store: VectorStore = await asyncio.to_thread(
        QdrantStore.open,
        url=config.url,
        api_key=api_key,
        path=config.path,
        timeout=config.timeout_seconds,
        exact=config.exact_search,
    )
    return store
