"""Collection-level writes in ``finalized``: the new store answers them; Chroma is not written.

In ``cutover`` create / modify / delete collection go to the old store first (it assigns
the UUIDs a rollback needs; cutover_collections.py). ``finalized`` has no rollback,
so this answers them from the target's catalog, in Chroma 1.5.9's exact wire format,
and applies the change to the target with the same ``apply_change`` (PutCollection /
RenameCollection / DropCollection) the cutover path uses. Nothing is journaled.

* create / get_or_create: a fresh uuid4; the object Chroma would return
  (:mod:`proxy.dialects.chroma.collection_objects`); get_or_create of an existing name returns
  it unchanged (Chroma ignores the new metadata and configuration then); 409
  ``Collection [NAME] already exists`` without get_or_create. In a database other than
  the default one, the database check given (FinalizedService.database_exists: what
  the proxy knows, else a read of the old store) decides Chroma's ``Database [db] does
  not exist``; with no answer, the create goes ahead.
* modify (``PUT .../collections/{uuid}``): 200 ``{}``; found by UUID in any tenant /
  database (Chroma ignores the path's scope there); unknown: 404 ``Collection [uuid]
  does not exist.``; a clashing new name: Chroma's 500 (SQLite UNIQUE constraint).
* delete (``DELETE .../collections/{name}``): 200 ``{}``; unknown: 404.
* Bodies, names and metadata: :mod:`proxy.dialects.chroma.collection_payloads` (serde's 400 /
  422, Chroma's validation order); a Content-Type other than JSON: 415.

Locks are those of cutover_collections.py: a create holds the database's collection-write
lock, a modify or delete the collection's UUID lock (which record writes take); a
rename holds both, so a name check cannot race a create. After each change the record
path's catalog cache and the reader's spec of that UUID are dropped.

Differs from Chroma: list or sparse-vector values in collection metadata make Chroma's
server panic and drop the connection; here they get a 500 ``InternalError``. Chroma
lists two validation errors in a random order; here the name comes first.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Hashable
from contextlib import AsyncExitStack
from typing import Any

import orjson
from multidict import CIMultiDict

from adapters.base import (
    DEFAULT_DATABASE,
    DEFAULT_TENANT,
    CollectionKey,
    CollectionSpec,
    StoreRejected,
    StoreUnavailable,
    VectorStore,
)
from proxy.dialects.chroma.body import BodyRejected
from proxy.dialects.chroma.capture import spec_from_chroma
from proxy.dialects.chroma.collection_objects import (
    default_num_threads,
    modified_object,
    new_object,
    synthesized_object,
)
from proxy.dialects.chroma.collection_payloads import (
    Refused,
    check_modify,
    invalid,
    parse_create,
    parse_modify,
    unstorable,
)
from proxy.dialects.chroma.collections import collection_object
from proxy.dialects.chroma.cutover_catalog import TargetCollections
from proxy.dialects.chroma.routes import Route
from proxy.journal.applier import apply_change
from proxy.journal.changes import Change, DropCollection, PutCollection, RenameCollection
from proxy.journal.locks import WriteLocks
from proxy.upstream.forwarder import UpstreamResponse, UpstreamUnavailable

ROUTES = frozenset({"create_collection", "modify_collection", "delete_collection"})
CREATE_LOCK = "db:create_collection"  # cutover_collections.py's key for creates
_HEX = "[0-9a-fA-F]"
_HYPHENATED = f"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"
_UUID = re.compile(f"{_HEX}{{32}}|{_HYPHENATED}|\\{{{_HYPHENATED}\\}}|urn:uuid:{_HYPHENATED}")
UNIQUE_VIOLATION = ("Database error: error returned from database: (code: 2067) UNIQUE "
                    "constraint failed: collections.name, collections.database_id")  # fmt: skip
UNSTORABLE = ("vecbridge: Chroma 1.5.9 cannot store list or sparse-vector values in "
              "collection metadata (its server drops the connection)")  # fmt: skip
NOT_JSON = "Expected request with `Content-Type: application/json`"

DatabaseCheck = Callable[[str, str, CIMultiDict[str]], Awaitable[bool | None]]


def json_answer(status: int, body: Any) -> UpstreamResponse:
    headers = CIMultiDict({"Content-Type": "application/json"})
    return UpstreamResponse(status, headers, orjson.dumps(body))


def json_error(status: int, name: str, message: str) -> UpstreamResponse:
    return json_answer(status, {"error": name, "message": message})


def is_json(headers: CIMultiDict[str]) -> bool:
    mime = headers.get("Content-Type", "").split(";")[0].strip().lower()
    kind, _, subtype = mime.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


def collection_id(text: str) -> str:
    """The path's collection id as Chroma parses it (uuid crate forms), hyphenated."""
    if not _UUID.fullmatch(text):
        raise invalid("Collection ID is not a valid UUIDv4")
    return str(uuid.UUID(text.removeprefix("urn:uuid:")))


class FinalizedCollections:
    """create / modify / delete collection answered by the target; see the module docstring."""

    def __init__(
        self, target: VectorStore, collections: TargetCollections, locks: WriteLocks,
        database_exists: DatabaseCheck, on_change: Callable[[str], None] | None = None,
        num_threads: int | None = None,
    ) -> None:  # fmt: skip
        self._target = target
        self._collections = collections
        self._locks = locks
        self._database_exists = database_exists
        self._on_change = on_change
        self._num_threads = num_threads or default_num_threads()

    @staticmethod
    def answers(route: Route) -> bool:
        """True for the routes this handler takes (database-level writes are not among them)."""
        return route.name in ROUTES

    async def handle(
        self, route: Route, method: str, path_qs: str, headers: CIMultiDict[str], body: bytes
    ) -> UpstreamResponse:
        """Chroma's answer to one collection write, the change applied to the target."""
        try:
            if route.name == "delete_collection":
                return await self._delete(route)
            if route.name == "create_collection" and path_qs.partition("?")[0].endswith("/"):
                return UpstreamResponse(404, CIMultiDict(), b"")  # Chroma has no such route
            if not is_json(headers):
                return json_error(415, "ChromaError", NOT_JSON)
            if route.name == "create_collection":
                return await self._create(route, headers, body)
            return await self._modify(route, body)
        except (BodyRejected, Refused) as exc:
            return json_error(exc.status, exc.name, exc.message)
        except StoreUnavailable as exc:
            raise UpstreamUnavailable(f"the new store is unavailable: {exc}") from exc
        except StoreRejected as exc:
            return json_error(500, "InternalError", str(exc))

    async def _create(
        self, route: Route, headers: CIMultiDict[str], body: bytes
    ) -> UpstreamResponse:
        request = parse_create(body)
        scope = (route.tenant, route.database)
        if scope != (DEFAULT_TENANT, DEFAULT_DATABASE) and await self._database_exists(
            route.tenant, route.database, headers
        ) is False:
            raise invalid(f"Database [{route.database}] does not exist")
        async with self._locks.collection((scope, CREATE_LOCK)):
            existing = await self._target.describe_collection(CollectionKey(request.name, *scope))
            if existing is not None:
                if not request.get_or_create:
                    message = f"Collection [{request.name}] already exists"
                    return json_error(409, "ChromaError", message)
                return json_answer(200, self._object(existing))
            if unstorable(request.metadata):
                return json_error(500, "InternalError", UNSTORABLE)
            obj = new_object(request, str(uuid.uuid4()), *scope, self._num_threads)
            await self._apply(PutCollection(spec_from_chroma(obj)), obj["id"])
        return json_answer(200, obj)

    async def _modify(self, route: Route, body: bytes) -> UpstreamResponse:
        request = parse_modify(body)
        wanted = collection_id(route.collection)
        spec = await self._by_id(wanted)
        check_modify(request)
        scope = (spec.key.tenant, spec.key.database)  # a collection never changes scope
        async with AsyncExitStack() as held:
            if request.new_name is not None:  # names are checked under the creates' lock
                await held.enter_async_context(self._locks.collection((scope, CREATE_LOCK)))
            await held.enter_async_context(self._locks.collection((scope, wanted)))
            spec = await self._by_id(wanted)  # again, now that nothing else can change it
            renaming = request.new_name is not None and request.new_name != spec.key.name
            if renaming:
                clash = CollectionKey(str(request.new_name), *scope)
                if await self._target.describe_collection(clash) is not None:
                    raise Refused(500, "InternalError", UNIQUE_VIOLATION)
            if unstorable(request.new_metadata):
                raise Refused(500, "InternalError", UNSTORABLE)
            new = spec_from_chroma(modified_object(self._object(spec), request))
            change: Change = RenameCollection(spec.key, new) if renaming else PutCollection(new)
            await self._apply(change, wanted)
        return json_answer(200, {})

    async def _delete(self, route: Route) -> UpstreamResponse:
        key = CollectionKey(route.collection, route.tenant, route.database)
        missing = json_error(404, "NotFoundError",
                             f"Collection [{route.collection}] does not exist")  # fmt: skip
        spec = await self._target.describe_collection(key)
        if spec is None:
            return missing
        lock: Hashable = ((route.tenant, route.database), spec.source_id)
        async with self._locks.collection(lock):
            if await self._target.describe_collection(key) is None:
                return missing
            await self._apply(DropCollection(key), spec.source_id)
        return json_answer(200, {})

    async def get_by_id(self, route: Route) -> UpstreamResponse:
        """``GET .../collections/by-id/{uuid}``: the collection if it is in the path's scope."""
        if not _UUID.fullmatch(route.collection):
            return json_error(400, "InvalidArgumentError", "Validation error: collection_id: "
                              "Invalid collection ID format, expected UUID")  # fmt: skip
        wanted = str(uuid.UUID(route.collection.removeprefix("urn:uuid:")))
        for spec in await self._target.list_collections():
            if spec.source_id == wanted and (spec.key.tenant, spec.key.database) == (
                route.tenant, route.database
            ):
                return json_answer(200, self._object(spec))
        return json_error(404, "NotFoundError", f"Collection [{wanted}] does not exist")

    async def drop_database(self, tenant: str, database: str) -> int:
        """Drop every collection of one tenant/database from the target; how many."""
        scope = (tenant, database)
        dropped = 0
        async with self._locks.collection((scope, CREATE_LOCK)):
            for spec in await self._target.list_collections():
                if (spec.key.tenant, spec.key.database) != scope:
                    continue
                async with self._locks.collection((scope, spec.source_id)):
                    await self._apply(DropCollection(spec.key), spec.source_id)
                dropped += 1
        return dropped

    async def _by_id(self, wanted: str) -> CollectionSpec:
        for spec in await self._target.list_collections():
            if spec.source_id == wanted:
                return spec
        raise Refused(404, "NotFoundError", f"Collection [{wanted}] does not exist.")

    def _object(self, spec: CollectionSpec) -> dict[str, Any]:
        return collection_object(spec) or synthesized_object(spec, self._num_threads)

    async def _apply(self, change: Change, changed_id: str | None) -> None:
        try:
            await apply_change(self._target, change)
        finally:  # even a failed apply may have changed part of the catalog
            self._collections.forget()
            if self._on_change is not None and changed_id:
                self._on_change(changed_id)
