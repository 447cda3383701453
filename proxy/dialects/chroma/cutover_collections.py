"""Collection-level writes in cutover: the old store first, then the new one.

create / get_or_create, modify (rename, metadata), delete collection and delete database
are forwarded raw to the OLD store, synchronously, as before cutover: it assigns the
collection UUID the app keeps using, so both stores hold every collection under the same
UUID and a rollback does not break the app's collection handles. The resulting change
is then applied to the new store before the app gets the answer; if the new store fails,
the change is journaled for it (destination ``target``) and the forward applier
delivers it once it is back.

In ``finalized`` (no rollback) the new store answers create / modify / delete collection
itself (proxy/dialects/chroma/finalized_collections.py); only delete database still comes here then.

Before forwarding, the reverse journal is drained up to its current head: a record write
accepted earlier for this collection must reach the old store before the collection is
renamed or dropped there (otherwise the reverse applier would recreate it by name).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Hashable

import orjson
from multidict import CIMultiDict

from adapters.base import CollectionKey, StoreError
from proxy.dialects.chroma.capture import (
    CaptureFailed,
    ChromaCapture,
    Scope,
    credentials,
    spec_from_chroma,
)
from proxy.dialects.chroma.cutover_catalog import TargetCollections
from proxy.dialects.chroma.routes import Route
from proxy.journal.changes import Change, DropCollection, PutCollection, RenameCollection
from proxy.journal.journal import TARGET, Journal
from proxy.journal.locks import WriteLocks
from proxy.upstream.forwarder import Forwarder, UpstreamResponse

log = logging.getLogger("vecbridge.cutover")

Drain = Callable[[], Awaitable[None]]


class CutoverCollections:
    """Collection-level writes in cutover (database deletes in finalized); see the module
    docstring."""

    def __init__(
        self, primary: Forwarder, target_apply: Callable[[Change], Awaitable[None]],
        journal: Journal, collections: TargetCollections, locks: WriteLocks, drain: Drain,
    ) -> None:  # fmt: skip
        self._primary = primary
        self._capture = ChromaCapture(primary)
        self._target_apply = target_apply
        self._journal = journal
        self._collections = collections
        self._locks = locks
        self._drain = drain

    async def handle(
        self, route: Route, method: str, path_qs: str, headers: CIMultiDict[str], body: bytes
    ) -> UpstreamResponse:
        """Forward to the old store, then mirror the effect on the new one."""
        scope = (route.tenant, route.database)
        lock: Hashable = (scope, f"db:{route.name}")
        uuid: str | None = None
        if route.name == "modify_collection":
            uuid = route.collection
        elif route.name == "delete_collection":
            key = CollectionKey(route.collection, route.tenant, route.database)
            spec = await self._collections.by_name(key)
            uuid = spec.source_id if spec is not None else None
        if uuid is not None:
            lock = (scope, uuid)  # the lock record writes of this collection take
        async with self._locks.collection(lock):
            return await self._write(route, method, path_qs, headers, body)

    async def _write(
        self, route: Route, method: str, path_qs: str, headers: CIMultiDict[str], body: bytes
    ) -> UpstreamResponse:
        await self._drain()
        before = await self._before(route)
        response = await self._primary.send(method, path_qs, headers, body, route=route.name)
        if not response.ok:
            return response
        try:
            changes = await self._changes(route, response, headers, before)
        except CaptureFailed as exc:
            log.error("cutover %s: cannot read the old store back: %s", route.name, exc)
            return response
        self._collections.forget()
        await self._mirror(changes)
        return response

    async def _before(self, route: Route) -> list[CollectionKey]:
        """What the write is about to replace: the old name (modify), the db's collections."""
        if route.name == "modify_collection":
            spec = await self._collections.by_id(route.tenant, route.database, route.collection)
            return [] if spec is None else [spec.key]
        if route.name == "delete_database":
            return [s.key for s in await self._collections.in_scope(route.tenant, route.database)]
        return []

    async def _changes(
        self, route: Route, response: UpstreamResponse, headers: CIMultiDict[str],
        before: list[CollectionKey],
    ) -> list[Change]:  # fmt: skip
        if route.name == "create_collection":
            return [PutCollection(spec_from_chroma(orjson.loads(response.body)))]
        if route.name == "delete_collection":
            return [DropCollection(CollectionKey(route.collection, route.tenant, route.database))]
        if route.name == "delete_database":
            return [DropCollection(key) for key in before]
        scope = Scope(route.tenant, route.database)
        spec = await self._capture.collection_by_id(scope, route.collection, credentials(headers))
        if spec is None:
            return [DropCollection(k) for k in before]
        if before and before[0] != spec.key:
            return [RenameCollection(before[0], spec)]
        return [PutCollection(spec)]

    async def _mirror(self, changes: list[Change]) -> None:
        """Apply to the new store now; if it fails, journal for the forward applier."""
        for index, change in enumerate(changes):
            try:
                await self._target_apply(change)
            except StoreError as exc:
                log.warning("new store missed a collection change, journaled for it: %s", exc)
                await self._journal.append(changes[index:], destination=TARGET)
                return

