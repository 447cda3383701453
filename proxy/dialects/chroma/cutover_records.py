"""Record writes from cutover on: the new store answers them with Chroma's semantics.

One sentence per write: under the same ordering locks as the forward path, read the
touched records from the target, compute the full images Chroma would leave
(:mod:`proxy.dialects.chroma.writes`), record an intent, apply the images to the target, and
append them for the OLD store (journal destination ``source``) in the transaction that
clears the intent; only then does the app get Chroma's answer. A crash between the
target write and the append leaves the intent: :meth:`CutoverRecords.recover` reads
the target's state of those ids again and journals it, so the old store never misses
an accepted write (rollback loses nothing). In ``finalized`` nothing is journaled.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Hashable, Sequence
from typing import Any

import orjson
from multidict import CIMultiDict

from adapters.base import (
    CollectionMissing,
    CollectionSpec,
    GetRequest,
    Record,
    StoreRejected,
    StoreUnavailable,
)
from adapters.chroma_filter import InvalidArgument, validate_where, validate_where_document
from adapters.qdrant_layout import collection_name
from adapters.qdrant_reads import ReadTarget
from adapters.qdrant_reads import get as qdrant_get
from proxy.dialects.chroma.cutover_catalog import RunnableStore, TargetCollections
from proxy.dialects.chroma.reads import BodyError, render_error
from proxy.dialects.chroma.routes import Kind, Route
from proxy.dialects.chroma.writes import (
    DeleteWrite,
    apply_write,
    check_dimension,
    delete_answer,
    parse_delete,
    parse_record_write,
)
from proxy.journal.applier import apply_change
from proxy.journal.changes import Change, DeleteRecords, UpsertRecords
from proxy.journal.journal import SOURCE, Journal
from proxy.journal.locks import WriteLocks
from proxy.upstream.forwarder import UpstreamResponse, UpstreamUnavailable

log = logging.getLogger("vecbridge.cutover")

INTENT_MARK = b'{"cutover":'
_JSON = CIMultiDict({"Content-Type": "application/json"})


def is_cutover_intent(data: bytes) -> bool:
    """True for intents written by this module (the forward pipeline skips them)."""
    return data.startswith(INTENT_MARK)


def _answer(status: int, body: bytes) -> UpstreamResponse:
    return UpstreamResponse(status, CIMultiDict(_JSON), body)


def _check_uuid(text: str) -> None:
    try:
        uuid.UUID(text)
    except ValueError:
        raise InvalidArgument("Collection ID is not a valid UUIDv4") from None


class CutoverRecords:
    """add / upsert / update / delete answered by the target; see the module docstring."""

    def __init__(
        self, target: RunnableStore, journal: Journal, collections: TargetCollections,
        locks: WriteLocks,
    ) -> None:  # fmt: skip
        self._target = target
        self._journal = journal
        self._collections = collections
        self._locks = locks

    async def handle(self, route: Route, body: bytes, journal_source: bool) -> UpstreamResponse:
        """Answer one record write as Chroma would (errors in Chroma's shape)."""
        try:
            _check_uuid(route.collection)
            if route.name == "delete":
                return await self._delete(route, parse_delete(body), journal_source)
            return await self._write(route, body, journal_source)
        except (BodyError, InvalidArgument, CollectionMissing) as exc:
            status, payload = render_error(exc, route.collection)
            return _answer(status, payload)
        except StoreUnavailable as exc:
            raise UpstreamUnavailable(f"the new store is unavailable: {exc}") from exc

    async def _spec(self, route: Route) -> CollectionSpec:
        spec = await self._collections.by_id(route.tenant, route.database, route.collection)
        if spec is None:
            raise CollectionMissing(route.collection)
        return spec

    def _lock_key(self, route: Route) -> Hashable:
        return ((route.tenant, route.database), route.collection)

    async def _write(self, route: Route, body: bytes, journal_source: bool) -> UpstreamResponse:
        write = parse_record_write(route.name, body)
        spec = await self._spec(route)
        async with self._locks.ids(self._lock_key(route), write.ids):
            if spec.dimension is None:  # a concurrent first add may have set it
                spec = await self._collections.refresh(route.collection) or spec
            check_dimension(write, spec.dimension)
            existing = {r.id: r for r in await self._target.get(spec.key, write.ids)}
            images = apply_write(existing, write)
            if images:
                await self._commit(route, spec, images, (), journal_source)
        return _answer(201 if route.name == "add" else 200, b"{}")

    async def _delete(
        self, route: Route, write: DeleteWrite, journal_source: bool
    ) -> UpstreamResponse:
        if write.where is not None:
            validate_where(write.where)
        if write.where_document is not None:
            validate_where_document(write.where_document)
        spec = await self._spec(route)
        if write.by_filter:
            async with self._locks.collection(self._lock_key(route)):
                ids = await self._matching(spec, write)
                if ids:
                    await self._commit(route, spec, [], ids, journal_source)
            return _answer(200, delete_answer(write, len(ids)))
        ids = list(dict.fromkeys(write.ids or []))
        if ids:
            async with self._locks.ids(self._lock_key(route), ids):
                await self._commit(route, spec, [], ids, journal_source)
        return _answer(200, delete_answer(write, 0))

    async def _matching(self, spec: CollectionSpec, write: DeleteWrite) -> list[str]:
        """Ids the filter (and ids, if given) selects, resolved on the target."""
        if spec.dimension is None:
            return []  # no record was ever stored
        request = GetRequest(ids=write.ids, where=write.where, where_document=write.where_document)

        def run(client: Any) -> list[Record]:
            target = ReadTarget(client, collection_name(spec.key), spec.space, spec.dimension,
                                ordered_scroll=False)  # fmt: skip
            return qdrant_get(target, request)

        return [r.id for r in await self._target.run(run)]

    async def _commit(
        self, route: Route, spec: CollectionSpec, images: Sequence[Record],
        deleted: Sequence[str], journal_source: bool,
    ) -> None:  # fmt: skip
        """Apply to the target; in cutover also journal the images for the old store."""
        changes: list[Change] = []
        if images:
            dimension = spec.dimension or len(images[0].embedding)  # type: ignore[arg-type]
            changes.append(UpsertRecords(spec.with_dimension(dimension), tuple(images)))
        if deleted:
            changes.append(DeleteRecords(spec.key, tuple(deleted)))
        if not journal_source:
            await self._apply(route, changes)
            return
        ids = [r.id for r in images] + list(deleted)
        intent = await self._journal.begin_intent(_intent(route, ids))
        try:
            await self._apply(route, changes)
        except BaseException:
            await self._settle(route, spec, ids, intent)
            raise
        await self._journal.append(changes, resolve_intent=intent, destination=SOURCE)

    async def _apply(self, route: Route, changes: Sequence[Change]) -> None:
        try:
            for change in changes:
                await apply_change(self._target, change)
        except CollectionMissing:
            raise
        except StoreRejected as exc:  # e.g. two concurrent first adds of other dimensions
            raise InvalidArgument(str(exc)) from exc
        if changes and isinstance(changes[0], UpsertRecords):
            self._collections.learned(route.collection, changes[0].spec.dimension)

    async def _settle(
        self, route: Route, spec: CollectionSpec, ids: Sequence[str], intent: int
    ) -> None:
        """After a failed apply: journal whatever the target now holds (else keep the intent)."""
        try:
            changes = await self._state(spec, ids)
        except Exception as exc:
            log.warning("cutover write on %s left an intent for recovery: %s", spec.key, exc)
            return
        await self._journal.append(changes, resolve_intent=intent, destination=SOURCE)

    async def _state(self, spec: CollectionSpec, ids: Sequence[str]) -> list[Change]:
        wanted = list(dict.fromkeys(ids))
        found = await self._target.get(spec.key, wanted)
        present = {r.id for r in found}
        changes: list[Change] = []
        if found:
            changes.append(UpsertRecords(spec, tuple(found)))
        missing = tuple(i for i in wanted if i not in present)
        if missing:
            changes.append(DeleteRecords(spec.key, missing))
        return changes

    async def recover(self) -> int:
        """Journal the target's state for every cutover intent a failure left behind."""
        recovered = 0
        for intent_id, data in await self._journal.pending_intents():
            if not is_cutover_intent(data):
                continue
            raw = orjson.loads(data)
            route = Route("recover", Kind.WRITE, raw["tenant"], raw["database"], raw["uuid"])
            spec = await self._collections.by_id(raw["tenant"], raw["database"], raw["uuid"])
            if spec is None:
                await self._journal.drop_intent(intent_id)  # the collection is gone for good
                continue
            async with self._locks.collection(self._lock_key(route)):
                if intent_id not in {i for i, _ in await self._journal.pending_intents()}:
                    continue  # settled by its own request meanwhile
                changes = await self._state(spec, raw["ids"])
                await self._journal.append(changes, resolve_intent=intent_id, destination=SOURCE)
            recovered += 1
        return recovered

    async def pending(self) -> int:
        """Cutover intents not yet journaled."""
        return sum(1 for _, d in await self._journal.pending_intents() if is_cutover_intent(d))


def _intent(route: Route, ids: Sequence[str]) -> bytes:
    body = {"cutover": 1, "tenant": route.tenant, "database": route.database,
            "uuid": route.collection, "ids": list(ids)}  # fmt: skip
    return orjson.dumps(body)
