"""Chroma's service, tenant and database routes: recorded before ``finalized``, answered after.

Before ``finalized`` these requests go to the old store as any other, and its 200
answers are kept (:mod:`proxy.dialects.chroma.facts`). In ``finalized`` the old store is not
needed by them any more, so it can be switched off:

* ``GET /api/v2`` and ``/api/v2/heartbeat``: ``{"nanosecond heartbeat": now}``.
* version, pre-flight checks, healthcheck, identity: the old store's last answer (the
  identity: the one given to the same credentials); never recorded: asked of the old
  store, and recorded. An identity for credentials never seen, the old store gone: the
  one every recorded credential got, if they all got the same (Chroma without auth).
* ``GET /tenants/{t}``, ``GET .../databases/{d}``: from what is known; unknown: asked
  of the old store (recorded when found), unless the tenant's whole database list is
  known here; the old store unreachable: Chroma's 404.
* ``GET /tenants/{t}/databases`` (``limit``/``offset``): from the known list, by name
  (Chroma's order); a list never read whole is asked of the old store, and answered
  from what is known when it cannot be reached.
* ``POST /tenants``, ``POST /tenants/{t}/databases``: kept here (Chroma's answers:
  ``{}``, 409 when it exists, its body and name errors); a database gets a fresh id.
* ``DELETE .../databases/{d}``: its collections are dropped from the new store and
  the database forgotten; unknown: Chroma's 404; a trailing slash: Chroma's bare 404.
  A database create or delete first takes the tenant's list over from the old store,
  which is not asked about that tenant's databases again (it cannot undo the change).
* Limit: a tenant the old store never showed the proxy (Chroma cannot list tenants)
  is unknown once the old store is gone.
* ``GET .../collections/by-id/{uuid}``: the new store's collection, in Chroma's format.

In ``cutover`` the old store still answers them (and gets tenant and database creates:
a rollback must find them), but while it is unreachable the reads among them are
answered as in ``finalized``: a new app client can still start.

Messages and statuses are Chroma 1.5.9's (tests/cutover/test_finalized_service_wire.py
sends the same requests to a real Chroma). Differs: Chroma lists a tenant name's
length error with its two fields in a random order; here ``min`` comes first.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import Any

import orjson
from multidict import CIMultiDict

from proxy.core.config import Phase
from proxy.dialects.chroma import body_shapes as s
from proxy.dialects.chroma import collections as cc
from proxy.dialects.chroma.body import BodyRejected, Reader
from proxy.dialects.chroma.capture import credentials
from proxy.dialects.chroma.collection_payloads import Refused, invalid, name_error
from proxy.dialects.chroma.facts import SERVICE_ANSWERS, ChromaFacts, database_path, tenant_path
from proxy.dialects.chroma.finalized_collections import (
    NOT_JSON,
    FinalizedCollections,
    is_json,
    json_answer,
    json_error,
)
from proxy.dialects.chroma.routes import SERVICE_ROUTES, Kind, Route
from proxy.upstream.forwarder import Forwarder, UpstreamResponse, UpstreamUnavailable

READ_ROUTES = SERVICE_ROUTES | {"get_collection_by_id"}
# Writes of the old store until ``finalized`` (a rollback must find them there).
_OLD_STORE_WRITES = frozenset({"create_tenant", "create_database"})
CREATE_TENANT = s.struct("CreateTenantPayload", {"name": s.text}, required=["name"])
CREATE_DATABASE = s.struct("CreateDatabasePayload", {"name": s.text}, required=["name"])


def _not_found(message: str) -> UpstreamResponse:
    return json_error(404, "NotFoundError", message)


def _read_name(shape: s.Shape, body: bytes) -> str:
    reader = Reader(body)
    fields: dict[str, Any] = shape(reader)
    reader.end()
    return str(fields["name"])


class FinalizedService:
    """Records the old store's service answers, and gives them once it is retired."""

    def __init__(self, facts: ChromaFacts, old_store: Forwarder,
                 collections: FinalizedCollections) -> None:  # fmt: skip
        self.facts = facts
        self._old = old_store
        self._collections = collections

    @staticmethod
    def takes_read(route: Route) -> bool:
        """The reads (and unknown requests) this handler takes: the read path's test."""
        return route.name in READ_ROUTES

    @staticmethod
    def takes_write(route: Route) -> bool:
        return route.name == "delete_database"

    async def handle(self, route: Route, method: str, path_qs: str, headers: CIMultiDict[str],
                     body: bytes, phase: Phase) -> UpstreamResponse:  # fmt: skip
        """The app's answer; before ``finalized`` the old store's, recorded on the way (in
        ``cutover``, while the old store is unreachable, a read is answered as after it)."""
        if phase is not Phase.FINALIZED:
            try:
                return await self._forward(route, method, path_qs, headers, body)
            except UpstreamUnavailable:
                if phase is not Phase.CUTOVER or route.name in _OLD_STORE_WRITES:
                    raise
        try:
            return await self._answer(route, method, path_qs, headers, body)
        except (BodyRejected, Refused) as exc:
            return json_error(exc.status, exc.name, exc.message)

    async def _forward(self, route: Route, method: str, path_qs: str,
                       headers: CIMultiDict[str], body: bytes) -> UpstreamResponse:  # fmt: skip
        """The old store's answer, recorded."""
        response = await self._old.send(method, path_qs, headers, body, route=route.name)
        self.facts.record(route, path_qs, headers, body, response)
        return response

    async def database_exists(self, tenant: str, database: str,
                              headers: CIMultiDict[str]) -> bool | None:  # fmt: skip
        """Whether a database exists, as far as can be told (None: no answer)."""
        if self.facts.database(tenant, database) is not None:
            return True
        if self.facts.listed(tenant):
            return False  # the whole list is known here: the old store is not asked
        try:
            found = await self._learn(route_of("get_database", tenant, database),
                                      database_path(tenant, database), headers)  # fmt: skip
        except UpstreamUnavailable:
            return None
        return found is not None

    # -- finalized ------------------------------------------------------------------
    async def _answer(self, route: Route, method: str, path_qs: str,
                      headers: CIMultiDict[str], body: bytes) -> UpstreamResponse:  # fmt: skip
        name = route.name
        if name in ("root", "heartbeat"):
            return json_answer(200, {"nanosecond heartbeat": time.time_ns()})
        if name in SERVICE_ANSWERS:
            return await self._service_answer(route, method, path_qs, headers, body)
        if name == "get_collection_by_id":
            self._check_database_name(route.database)
            return await self._collections.get_by_id(route)
        if name in ("create_tenant", "create_database"):
            if not is_json(headers):
                return json_error(415, "ChromaError", NOT_JSON)
            if name == "create_tenant":
                return await self._create_tenant(body, headers)
            return await self._create_database(route, body, headers)
        if name == "get_tenant":
            return await self._get_tenant(route, path_qs, headers)
        if name == "get_database":
            self._check_database_name(route.database)
            return await self._get_database(route, path_qs, headers)
        if name == "list_databases":
            return await self._list_databases(route, path_qs, headers)
        assert name == "delete_database", name
        if path_qs.partition("?")[0].endswith("/"):
            return UpstreamResponse(404, CIMultiDict(), b"")  # Chroma has no such route
        return await self._delete_database(route, headers)

    async def _service_answer(
        self, route: Route, method: str, path_qs: str, headers: CIMultiDict[str], body: bytes
    ) -> UpstreamResponse:
        known = self.facts.service(route.name, headers)
        if known is None:
            try:
                return await self._forward(route, method, path_qs, headers, body)
            except UpstreamUnavailable:
                if route.name != "identity" or (known := self.facts.only_identity()) is None:
                    raise
        return UpstreamResponse(200, CIMultiDict({"Content-Type": "application/json"}), known)

    async def _learn(self, route: Route, path_qs: str,
                     headers: CIMultiDict[str]) -> UpstreamResponse | None:  # fmt: skip
        """Ask the old store (a read), record a 200; None when it answers anything else."""
        asked = credentials(headers)
        response = await self._old.send("GET", path_qs, asked, None, route=route.name)
        self.facts.record(route, path_qs, asked, b"", response)
        return response if response.status == 200 else None

    async def _known_or_asked(self, route: Route, path_qs: str, headers: CIMultiDict[str],
                              known: dict[str, Any] | None) -> dict[str, Any] | None:  # fmt: skip
        if known is not None:
            return known
        try:
            found = await self._learn(route, path_qs, headers)
        except UpstreamUnavailable:
            return None  # the old store is gone: what is known here is all there is
        return None if found is None else dict(orjson.loads(found.body))

    async def _get_tenant(self, route: Route, path_qs: str,
                          headers: CIMultiDict[str]) -> UpstreamResponse:  # fmt: skip
        known = self.facts.tenant(route.tenant)
        found = await self._known_or_asked(route, path_qs, headers, known)
        if found is None:
            return _not_found(f"Tenant [{route.tenant}] not found")
        return json_answer(200, {"name": route.tenant, "resource_name": None})

    async def _get_database(self, route: Route, path_qs: str,
                            headers: CIMultiDict[str]) -> UpstreamResponse:  # fmt: skip
        known = self.facts.database(route.tenant, route.database)
        if known is None and self.facts.listed(route.tenant):
            found = None  # the whole list is known here: the old store is not asked
        else:
            found = await self._known_or_asked(route, path_qs, headers, known)
        if found is None:
            return _not_found(f"Database [{route.database}] not found. Are you sure it exists?")
        return json_answer(200, found)

    async def _list_databases(self, route: Route, path_qs: str,
                              headers: CIMultiDict[str]) -> UpstreamResponse:  # fmt: skip
        try:
            params = cc.parse_list_params(cc.query_string(path_qs))
        except cc.QueryStringError as exc:
            return json_error(400, "InvalidArgumentError", exc.message)
        known = self.facts.databases(route.tenant)
        if known is None:
            await self._learn_list(route.tenant, headers)
            known = self.facts.known_databases(route.tenant)  # all of them, when it answered
        ordered = sorted(known, key=lambda obj: str(obj["name"]))  # Chroma's order: by name
        end = None if params.limit is None else params.offset + params.limit
        return json_answer(200, ordered[params.offset:end])

    async def _create_tenant(self, body: bytes, headers: CIMultiDict[str]) -> UpstreamResponse:
        name = _read_name(CREATE_TENANT, body)
        if len(name) < 3:
            raise invalid("Validation error: name: Validation error: length "
                          f'[{{"min": Number(3), "value": String({orjson.dumps(name).decode()})}}]')
        path = tenant_path(name)
        exists = await self._known_or_asked(route_of("get_tenant", name, ""), path, headers,
                                            self.facts.tenant(name))  # fmt: skip
        if exists is not None:
            return json_error(409, "ChromaError", f"Tenant [{name}] already exists")
        self.facts.put_tenant(name)
        return json_answer(200, {})

    async def _create_database(self, route: Route, body: bytes,
                               headers: CIMultiDict[str]) -> UpstreamResponse:  # fmt: skip
        name = _read_name(CREATE_DATABASE, body)
        error = name_error(name)
        if error is not None:
            raise invalid(error)
        await self._own_list(route.tenant, headers)
        if self.facts.database(route.tenant, name) is not None:
            return json_error(409, "ChromaError", f"Database [{name}] already exists")
        obj = {"id": str(uuid.uuid4()), "name": name, "tenant": route.tenant}
        self.facts.put_database(obj)
        return json_answer(200, {})

    async def _delete_database(self, route: Route, headers: CIMultiDict[str]) -> UpstreamResponse:
        await self._own_list(route.tenant, headers)
        if self.facts.database(route.tenant, route.database) is None:
            return _not_found(f"Database [{route.database}] not found")
        await self._collections.drop_database(route.tenant, route.database)
        self.facts.drop_database(route.tenant, route.database)
        return json_answer(200, {})

    async def _learn_list(self, tenant: str, headers: CIMultiDict[str]) -> None:
        """Read a tenant's whole database list from the old store, if it answers."""
        path = tenant_path(tenant) + "/databases"
        with contextlib.suppress(UpstreamUnavailable):
            await self._learn(route_of("list_databases", tenant, ""), path, headers)

    async def _own_list(self, tenant: str, headers: CIMultiDict[str]) -> None:
        """Before the proxy creates or deletes a database of ``tenant``: take over its list
        (read once from the old store if never read whole), so that the old store is never
        asked about that tenant's databases again and cannot undo the change."""
        if not self.facts.listed(tenant):
            await self._learn_list(tenant, headers)
        if not self.facts.listed(tenant):  # the old store is gone: what is known is all
            self.facts.put_listed(tenant, self.facts.known_databases(tenant))

    @staticmethod
    def _check_database_name(database: str) -> None:
        if len(database) < 3:
            raise invalid("database name must be at least 3 characters")


def route_of(name: str, tenant: str, database: str) -> Route:
    """A route built here (not parsed from a request) for an old-store read."""
    return Route(name, Kind.OTHER, tenant=tenant, database=database)
