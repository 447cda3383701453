"""The dual-write path: forward a write to the primary, then journal what it changed.

One sentence per write: record an intent, then under the collection's lock forward the
request raw to the primary and, if the primary accepted it (or the outcome is unknown),
read the touched state back and queue it for the journal in the same transaction that
clears the intent; the lock is released and, once that transaction is durable, the app
gets the primary's answer.

The lock makes the journal order equal to the order the primary applied the writes:
an entry's place in the group-commit queue is fixed before the lock is released, so
the next write on the collection overlaps the flush without overtaking it. The intent
makes a crash at any point recoverable (start-up captures it again); the read-back
makes every entry a full, idempotent image (see capture.py). A write that names its
ids records its intent before taking the lock; writes that must look at the
collection first (delete by ``where``, collection writes) plan under the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

import orjson
from multidict import CIMultiDict

from adapters.base import CollectionKey, CollectionSpec
from proxy.core.events import EventBus, WriteJournaled, WriteUnmirrored
from proxy.dialects.chroma.capture import CaptureFailed, ChromaCapture, Scope, credentials
from proxy.dialects.chroma.cutover_records import is_cutover_intent
from proxy.dialects.chroma.routes import Route, is_record_write
from proxy.journal.changes import Change, DropCollection, PutCollection, RenameCollection
from proxy.journal.journal import Journal
from proxy.journal.locks import WriteLocks
from proxy.upstream.forwarder import Forwarder, UpstreamResponse, UpstreamUnavailable

log = logging.getLogger("vecbridge.writes")

WriteHandler = Callable[[Route, str, str, CIMultiDict[str], bytes], Awaitable[UpstreamResponse]]


@dataclass(frozen=True)
class Intent:
    """What a write touched, enough to capture its effect again after a crash."""

    route: str
    tenant: str
    database: str
    collection: str  # UUID for record writes and modify, name for create/delete
    ids: tuple[str, ...] = ()
    old_name: str = ""

    def encode(self) -> bytes:
        return orjson.dumps(self.__dict__)

    @staticmethod
    def decode(data: bytes) -> Intent:
        raw = orjson.loads(data)
        return Intent(**{**raw, "ids": tuple(raw["ids"])})

    @property
    def scope(self) -> Scope:
        return Scope(self.tenant, self.database)


def _parse(body: bytes) -> Any:
    if not body:
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _named_ids(route: Route, parsed: Any) -> list[str] | None:
    """The ids a record write names itself (None for writes that need the whole collection)."""
    if not is_record_write(route) or not isinstance(parsed, dict):
        return None
    if route.name == "delete" and (parsed.get("where") or parsed.get("where_document")):
        return None
    ids = parsed.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        return None
    return ids


class WritePipeline:
    """Forwards writes and journals their effect; see the module docstring."""

    def __init__(
        self,
        primary: Forwarder,
        journal: Journal,
        events: EventBus,
        mirroring: Callable[[], bool],
    ) -> None:
        self._primary = primary
        self._capture = ChromaCapture(primary)
        self._journal = journal
        self._events = events
        self._mirroring = mirroring
        self._locks = WriteLocks()
        self._specs: dict[str, CollectionSpec] = {}  # collection UUID -> spec
        self._in_flight: set[int] = set()  # intents a live request is still settling
        # Set by proxy/writes/cutover.py: picks the path by phase and calls handle_forward itself.
        self.dispatch: WriteHandler | None = None

    async def handle(
        self, route: Route, method: str, path_qs: str, headers: CIMultiDict[str], body: bytes
    ) -> UpstreamResponse:
        """Every app write: through the dispatcher when one is installed, else forward."""
        if self.dispatch is not None:
            return await self.dispatch(route, method, path_qs, headers, body)
        return await self.handle_forward(route, method, path_qs, headers, body)

    async def handle_forward(
        self, route: Route, method: str, path_qs: str, headers: CIMultiDict[str], body: bytes
    ) -> UpstreamResponse:
        """The old store is primary: forward, and journal the effect when mirroring."""
        if not self._mirroring():
            return await self._forward(route, method, path_qs, headers, body)
        parsed = _parse(body)
        scope = Scope(route.tenant, route.database)
        if _named_ids(route, parsed) is not None:
            # The intent needs nothing from the collection: record it before queueing.
            lock_key = (scope, route.collection)
            return await self._write(route, scope, method, path_qs, headers, body, parsed, lock_key)
        if route.name == "create_collection":
            name = parsed.get("name") if isinstance(parsed, dict) else None
            async with self._locks.collection((scope, f"name:{name}")):
                return await self._write(route, scope, method, path_qs, headers, body, parsed)
        if route.name == "delete_collection":
            async with self._locks.collection((scope, f"name:{route.collection}")):
                # Record writes lock by UUID: hold that lock too, so a drop can never be
                # journaled ahead of an add the primary applied before it.
                spec = await self._capture.collection_by_name(
                    scope, route.collection, credentials(headers)
                )
                uuid = spec.source_id if spec is not None else None
                async with self._locks.collection((scope, uuid)):
                    return await self._write(route, scope, method, path_qs, headers, body, parsed)
        async with self._locks.collection((scope, route.collection)):
            return await self._write(route, scope, method, path_qs, headers, body, parsed)

    async def _write(
        self,
        route: Route,
        scope: Scope,
        method: str,
        path_qs: str,
        headers: CIMultiDict[str],
        body: bytes,
        parsed: Any,
        lock_key: Hashable | None = None,
    ) -> UpstreamResponse:
        """Intent, forward, capture, journal (see the module docstring).

        With ``lock_key`` the collection lock is taken here, after the intent; without
        it the caller already holds the lock.
        """
        try:
            intent = await self._plan(route, scope, headers, parsed)
        except CaptureFailed as exc:
            if exc.status is None or exc.status >= 500:
                # Forwarding now could apply a write we cannot capture: refuse it instead.
                raise UpstreamUnavailable(f"source cannot be read back: {exc}") from exc
            intent = None  # the primary rejects this request; let it say so itself
        if intent is None:
            self._events.emit(WriteUnmirrored(route.name, "unparsed"))
            return await self._forward(route, method, path_qs, headers, body)
        intent_id = await self._journal.begin_intent(intent.encode())
        self._in_flight.add(intent_id)
        try:
            async with self._locked(lock_key):
                try:
                    response = await self._forward(route, method, path_qs, headers, body)
                except Exception:
                    await self._settle(intent, intent_id, credentials(headers))
                    raise
                if 400 <= response.status < 500:
                    await self._journal.drop_intent(intent_id)
                    return response
                durable = await self._queue_changes(
                    intent, intent_id, credentials(headers), response
                )
            if durable is not None:
                await durable
            return response
        finally:
            self._in_flight.discard(intent_id)

    @contextlib.asynccontextmanager
    async def _locked(self, key: Hashable | None) -> AsyncIterator[None]:
        if key is None:
            yield
            return
        async with self._locks.collection(key):
            yield

    async def _forward(
        self, route: Route, method: str, path_qs: str, headers: CIMultiDict[str], body: bytes
    ) -> UpstreamResponse:
        return await self._primary.send(method, path_qs, headers, body, route=route.name)

    async def _plan(
        self, route: Route, scope: Scope, headers: CIMultiDict[str], parsed: Any
    ) -> Intent | None:
        """The intent of a write, or None when it cannot be understood (forward it as is)."""
        def intent(collection: str, ids: tuple[str, ...] = (), old_name: str = "") -> Intent:
            return Intent(route.name, scope.tenant, scope.database, collection, ids, old_name)

        if route.name == "create_collection":
            name = parsed.get("name") if isinstance(parsed, dict) else None
            return intent(name) if isinstance(name, str) else None
        if route.name == "delete_collection":
            return intent(route.collection)
        if route.name == "delete_database":
            listed = await self._capture.list_collections(scope, credentials(headers))
            return intent("", ids=tuple(s.key.name for s in listed))
        spec = await self._spec(scope, route.collection, credentials(headers))
        if spec is None:
            return None  # unknown collection: the primary answers 404 on its own
        if route.name == "modify_collection":
            return intent(route.collection, old_name=spec.key.name)
        ids = await self._touched_ids(route, scope, parsed, headers)
        return None if ids is None else intent(route.collection, ids=ids)

    async def _touched_ids(
        self, route: Route, scope: Scope, parsed: Any, headers: CIMultiDict[str]
    ) -> tuple[str, ...] | None:
        if not isinstance(parsed, dict):
            return None
        ids = parsed.get("ids")
        if route.name == "delete" and (parsed.get("where") or parsed.get("where_document")):
            matched = await self._capture.matching_ids(
                scope, route.collection, credentials(headers), parsed
            )
            return None if matched is None else tuple(matched)
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return None
        return tuple(ids)

    async def _spec(
        self, scope: Scope, collection_id: str, headers: CIMultiDict[str]
    ) -> CollectionSpec | None:
        spec = self._specs.get(collection_id)
        if spec is None:
            spec = await self._capture.collection_by_id(scope, collection_id, headers)
            if spec is not None:
                self._specs[collection_id] = spec
        return spec

    async def _settle(
        self,
        intent: Intent,
        intent_id: int,
        headers: CIMultiDict[str],
        response: UpstreamResponse | None = None,
    ) -> None:
        """Capture the effect of the write and journal it durably; on failure keep the intent."""
        durable = await self._queue_changes(intent, intent_id, headers, response)
        if durable is not None:
            await durable

    async def _queue_changes(
        self,
        intent: Intent,
        intent_id: int,
        headers: CIMultiDict[str],
        response: UpstreamResponse | None = None,
    ) -> asyncio.Future[None] | None:
        """Capture the effect of the write and queue it for the journal (its order is
        fixed on return); the future resolves once it is durable. None when the capture
        failed: the intent stays, and the recovery loop captures it again."""
        try:
            changes = await self._changes(intent, headers, response)
        except CaptureFailed as exc:
            log.warning("capture of %s failed, will retry: %s", intent.route, exc)
            return None
        committed = self._journal.append_soon(changes, resolve_intent=intent_id)
        return asyncio.ensure_future(self._journaled(committed, intent, len(changes)))

    async def _journaled(self, committed: Awaitable[int], intent: Intent, entries: int) -> None:
        await committed
        self._events.emit(WriteJournaled(intent.route, intent.collection, entries))

    async def _changes(
        self, intent: Intent, headers: CIMultiDict[str], response: UpstreamResponse | None
    ) -> list[Change]:
        scope = intent.scope
        if intent.route in ("create_collection", "delete_collection"):
            self._forget(scope, name=intent.collection)
            return await self._capture.collection_state(scope, intent.collection, headers)
        if intent.route == "delete_database":
            return await self._drop_database(intent, headers)
        if intent.route == "modify_collection":
            return await self._modified(intent, headers)
        spec = await self._spec(scope, intent.collection, headers)
        if spec is None:  # dropped meanwhile; the drop has its own entry
            return []
        return await self._capture.records(scope, spec, intent.ids, headers)

    async def _modified(self, intent: Intent, headers: CIMultiDict[str]) -> list[Change]:
        scope = intent.scope
        old = CollectionKey(intent.old_name, intent.tenant, intent.database)
        self._specs.pop(intent.collection, None)
        spec = await self._spec(scope, intent.collection, headers)
        if spec is None:
            return [DropCollection(old)]
        if spec.key != old:
            return [RenameCollection(old, spec)]
        return [PutCollection(spec)]

    async def _drop_database(self, intent: Intent, headers: CIMultiDict[str]) -> list[Change]:
        # The collections were listed before the delete (the intent's ids are their names).
        changes: list[Change] = []
        for name in intent.ids:
            self._forget(intent.scope, name=name)
            changes += await self._capture.collection_state(intent.scope, name, headers)
        return changes

    def _forget(self, scope: Scope, name: str) -> None:
        for cid, spec in list(self._specs.items()):
            if spec.key == CollectionKey(name, scope.tenant, scope.database):
                del self._specs[cid]

    async def recover(self) -> int:
        """Capture again every intent a crash (or an unreachable primary) left behind."""
        recovered = 0
        for intent_id, data in await self._journal.pending_intents():
            if intent_id in self._in_flight or is_cutover_intent(data):
                # cutover intents are the cutover path's (dialects/chroma/cutover_records.py)
                continue
            intent = Intent.decode(data)
            key = intent.collection
            if intent.route in ("create_collection", "delete_collection"):
                key = f"name:{key}"
            async with self._locks.collection((intent.scope, key)):
                await self._settle(intent, intent_id, credentials(CIMultiDict()))
            recovered += 1
        return recovered
