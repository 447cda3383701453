"""Wiring of the cutover write path into a running proxy (called from server._lifecycle)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from multidict import CIMultiDict

from adapters.chroma import ChromaStore
from proxy.core.config import Phase
from proxy.core.events import ApplyFailed, DeadLettered, EventBus
from proxy.core.phases import NEW_STORE_PRIMARY
from proxy.dialects.chroma.cutover_catalog import RunnableStore, TargetCollections
from proxy.dialects.chroma.cutover_collections import CutoverCollections
from proxy.dialects.chroma.cutover_records import CutoverRecords
from proxy.dialects.chroma.facts import ChromaFacts, migration_tenants
from proxy.dialects.chroma.finalized_collections import FinalizedCollections
from proxy.dialects.chroma.finalized_service import FinalizedService
from proxy.journal.applier import Applier, apply_change
from proxy.journal.changes import Change
from proxy.journal.journal import REVERSE_CURSOR, SOURCE
from proxy.journal.locks import WriteLocks
from proxy.upstream.forwarder import UpstreamResponse
from proxy.writes.cutover import CutoverWrites

if TYPE_CHECKING:
    from proxy.ops.running import Proxy

log = logging.getLogger("vecbridge.cutover")


def _log_reverse(bus: EventBus) -> None:
    # The reverse applier reports on a bus of its own: its batches must not count as the
    # new store's progress in the forward metrics.
    bus.subscribe(ApplyFailed, lambda e: log.warning("reverse apply %s: %s", e.kind, e.error))
    bus.subscribe(DeadLettered, lambda e: log.error("reverse entry %d dead-lettered", e.seq))


def install_cutover(proxy: Proxy) -> CutoverWrites:
    """Build the cutover parts, route the proxy's writes through them, register the hooks."""
    target: RunnableStore = proxy.target  # type: ignore[assignment]
    old_store = ChromaStore(proxy.source_url, timeout=proxy.config.upstream.request_timeout_seconds,
                            tenants=migration_tenants(proxy.config.source.tenants, proxy.state))
    bus = EventBus()
    _log_reverse(bus)
    reverse = Applier(proxy.journal, old_store, bus, proxy.config.applier,
                      cursor=REVERSE_CURSOR, destination=SOURCE)  # fmt: skip
    collections = TargetCollections(target)
    locks = WriteLocks()
    records = CutoverRecords(target, proxy.journal, collections, locks)
    cutover = CutoverWrites(proxy.phases, proxy.writes.handle_forward, records, proxy.journal,
                            reverse, old_store,
                            drain_timeout=proxy.config.migration.drain_timeout_seconds)  # fmt: skip

    async def to_target(change: Change) -> None:
        await apply_change(target, change)

    cutover.collections = CutoverCollections(
        proxy.primary, to_target, proxy.journal, collections, locks, cutover.drain_reverse
    )
    reader = proxy.reads.reader  # its cached spec of a changed collection must go

    async def database_exists(tenant: str, database: str, headers: CIMultiDict[str]) -> bool | None:
        return await service.database_exists(tenant, database, headers)

    cutover.finalized = FinalizedCollections(
        target, collections, locks, database_exists,
        on_change=None if reader is None else reader.invalidate,
    )
    facts = ChromaFacts(proxy.state)
    service = FinalizedService(facts, proxy.primary, cutover.finalized)
    cutover.service = proxy.reads.service = service

    async def read_old(method: str, path: str) -> UpstreamResponse:
        return await proxy.primary.send(method, path, CIMultiDict(), None, route="capture")

    async def refresh_facts(current: Phase, target: Phase) -> None:
        if target in NEW_STORE_PRIMARY and target is not current:
            # while the old store still answers; source.tenants too (never opened, maybe)
            await facts.refresh(read_old, proxy.config.source.tenants)

    proxy.control.controller.before_hooks.append(refresh_facts)
    proxy.writes.dispatch = cutover.handle
    proxy.control.controller.before_hooks.append(cutover.before)
    proxy.control.controller.after_hooks.append(cutover.after)
    return cutover
