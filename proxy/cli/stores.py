"""Opening the source, target and journal for a CLI verb that runs in its own process.

The source is the configured Chroma URL; with the embedded default (no URL) it is the
embedded Chroma of a running proxy when one answers, else a Chroma started here on the
same data directory for the duration of the verb. The target is opened like the proxy
opens it; a local-mode target held by a running proxy fails with a message saying to
go through the proxy's admin API instead. A verb opens only the stores it works on
(:func:`open_store`): exporting from Chroma must not need the target a proxy holds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

from adapters.base import StoreUnavailable, VectorStore
from adapters.chroma import ChromaStore
from proxy.core.config import Config
from proxy.core.state import StateStore
from proxy.dialects.chroma.facts import migration_tenants
from proxy.journal.journal import Journal
from proxy.upstream.embedded_chroma import EmbeddedChroma, EmbeddedChromaError, free_port
from proxy.upstream.target import open_target


class StoreOpenError(RuntimeError):
    """A store could not be opened; the message says which and why."""


@dataclass
class Stores:
    """What a migration verb works on."""

    source: ChromaStore
    target: VectorStore
    journal: Journal


@contextlib.asynccontextmanager
async def open_source(config: Config) -> AsyncIterator[ChromaStore]:
    """The source store, reachable, or ``StoreOpenError``."""
    embedded: EmbeddedChroma | None = None
    url = config.source.url
    if url is None:
        settings = config.source.embedded
        url = f"http://{settings.host}:{settings.port}"
        if not await _answers(url):
            embedded = EmbeddedChroma(settings.path, settings.host, free_port(settings.host))
            try:
                await asyncio.to_thread(embedded.start, settings.startup_timeout_seconds)
            except EmbeddedChromaError as exc:
                raise StoreOpenError(f"cannot start the embedded source: {exc}") from exc
            url = embedded.url
    # Tenants a proxy has seen are in its state file (read, never created, from here).
    state_path = config.migration.state_path
    state = StateStore(state_path) if state_path.exists() else None
    store = ChromaStore(url, timeout=config.upstream.request_timeout_seconds,
                        tenants=migration_tenants(config.source.tenants, state))
    try:
        if not await store.health():
            raise StoreOpenError(f"source store unreachable at {url}")
        yield store
    finally:
        await store.close()
        if state is not None:
            state.close()
        if embedded is not None:
            embedded.stop()


async def _answers(url: str) -> bool:
    probe = ChromaStore(url, timeout=2.0)
    try:
        return await probe.health()
    finally:
        await probe.close()


HELD_ADVICE = "enable its admin API, or stop it"


async def open_target_checked(config: Config, held_advice: str = HELD_ADVICE) -> VectorStore:
    """The target, or ``StoreOpenError`` with a one-line reason (``held_advice`` says what
    to do when a running proxy holds a local-mode target)."""
    where = config.target.url or f"local path {config.target.path}"
    try:
        target = await open_target(config.target)
    except StoreUnavailable as exc:
        if "already accessed" in str(exc):
            raise StoreOpenError(
                f"target {where} is held by a running proxy (local mode allows one process): "
                f"{held_advice}") from exc
        raise StoreOpenError(f"target store unreachable at {where}: {exc}") from exc
    health = getattr(target, "health", None)
    if health is not None and not await health():
        await target.close()
        raise StoreOpenError(f"target store unreachable at {where}")
    return target


@contextlib.asynccontextmanager
async def open_target_store(
    config: Config, held_advice: str = HELD_ADVICE
) -> AsyncIterator[VectorStore]:
    """The target (see :func:`open_target_checked`), closed again on exit."""
    target = await open_target_checked(config, held_advice)
    try:
        yield target
    finally:
        await target.close()


Side = Literal["source", "target"]


@contextlib.asynccontextmanager
async def open_store(config: Config, side: Side) -> AsyncIterator[VectorStore]:
    """Only the store of ``side``: export/import touch one store, not both."""
    if side == "source":
        async with open_source(config) as source:
            yield source
        return
    # The admin API runs no export/import: the target itself is needed.
    advice = "stop it first (export --from target and import --into target open it themselves)"
    async with open_target_store(config, advice) as target:
        yield target


@contextlib.asynccontextmanager
async def open_stores(config: Config) -> AsyncIterator[Stores]:
    """Source, target and journal, closed again on exit."""
    async with open_source(config) as source, open_target_store(config) as target:
        journal = await Journal(config.journal.path, config.journal.group_commit_max).open()
        try:
            yield Stores(source, target, journal)
        finally:
            await journal.close()
