"""What the old store said about itself, kept so the proxy can answer for it once retired.

A Chroma client asks for more than records: its constructor reads the identity, the
tenant and the database; the first write reads the pre-flight checks; some clients
poll the heartbeat and version. After ``finalized`` the old store is no longer written,
and these answers are all that still needs it. They are kept here:

* recorded from the old store's own 200 answers as they pass through the proxy
  (any phase before ``finalized``): version, pre-flight checks, healthcheck, the
  identity (per credentials: kept under a digest, never the credentials), tenants,
  databases and whole database lists;
* read from the old store on purpose by :meth:`ChromaFacts.refresh` when the phase
  moves to ``cutover`` or ``finalized`` (while it still answers);
* changed by the proxy itself in ``finalized`` (a tenant or database created or
  deleted there, proxy/dialects/chroma/finalized_service.py).

They live in the migration state file (shared by replicas, kept across restarts).
Keys: ``chroma.service:{route}`` (and ``:{digest}`` for the identity) -> the body as
text; ``chroma.tenant:{t}`` -> the tenant object; ``chroma.database:{t}/{d}`` -> the
database object; ``chroma.listed:{t}`` -> true once every database of ``t`` was read
from one list (only then can a list be answered from here). Names are percent-encoded.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import quote

import orjson
from multidict import CIMultiDict

from adapters.base import DEFAULT_TENANT
from proxy.core.state import StateStore
from proxy.dialects.chroma.capture import CREDENTIAL_HEADERS
from proxy.dialects.chroma.routes import Kind, Route
from proxy.upstream.forwarder import UpstreamResponse, UpstreamUnavailable, inflate

log = logging.getLogger("vecbridge.facts")

SERVICE_PATHS = {
    "version": "/api/v2/version",
    "pre_flight_checks": "/api/v2/pre-flight-checks",
    "healthcheck": "/api/v2/healthcheck",
    "identity": "/api/v2/auth/identity",
}
SERVICE_ANSWERS = frozenset(SERVICE_PATHS)  # the routes whose whole answer is kept
Send = Callable[[str, str], Awaitable[UpstreamResponse]]


def migration_tenants(configured: Sequence[str],
                      state: StateStore | None) -> Callable[[], list[str]]:  # fmt: skip
    """The tenants (besides the default and the credentials' own) whose databases plan,
    backfill, validate and the cutover check walk: ``source.tenants`` and every tenant
    the proxy has seen (an app client opens its tenant through it), read when called."""
    facts = None if state is None else ChromaFacts(state)

    def tenants() -> list[str]:
        seen = facts.seen_tenants() if facts is not None else []
        return list(dict.fromkeys([*configured, *seen]))

    return tenants


def credential_digest(headers: CIMultiDict[str]) -> str:
    """A digest of the credential headers (empty without any): the identity's key."""
    found = [f"{name}:{value}" for name in CREDENTIAL_HEADERS
             for value in headers.getall(name, [])]  # fmt: skip
    if not found:
        return ""
    return hashlib.sha256("\n".join(found).encode()).hexdigest()[:32]


def tenant_object(name: str) -> dict[str, Any]:
    return {"name": name, "resource_name": None}


def tenant_path(tenant: str) -> str:
    return f"/api/v2/tenants/{quote(tenant, safe='')}"


def database_path(tenant: str, database: str) -> str:
    return f"{tenant_path(tenant)}/databases/{quote(database, safe='')}"


def _tenant_key(tenant: str) -> str:
    return f"chroma.tenant:{quote(tenant, safe='')}"


def _database_prefix(tenant: str) -> str:
    return f"chroma.database:{quote(tenant, safe='')}/"


def _database_key(tenant: str, database: str) -> str:
    return _database_prefix(tenant) + quote(database, safe="")


def _listed_key(tenant: str) -> str:
    return f"chroma.listed:{quote(tenant, safe='')}"


class ChromaFacts:
    """The old store's service, tenant and database answers; see the module docstring."""

    def __init__(self, state: StateStore) -> None:
        self._state = state

    # -- service answers ------------------------------------------------------------
    def service(self, route: str, headers: CIMultiDict[str]) -> bytes | None:
        """The last answer recorded for a service route (the identity: per credentials)."""
        text = self._state.get(self._service_key(route, headers))
        return None if text is None else str(text).encode()

    def only_identity(self) -> bytes | None:
        """The identity every recorded credential got, when they all got the same one (a
        Chroma without auth answers everyone alike); None when they differ or none is kept."""
        answers = {str(text) for _, text in self._state.items("chroma.service:identity:")}
        return answers.pop().encode() if len(answers) == 1 else None

    def put_service(self, route: str, headers: CIMultiDict[str], body: bytes) -> None:
        key, text = self._service_key(route, headers), body.decode()
        if self._state.get(key) != text:  # clients repeat these: no write (fsync) for a repeat
            self._state.put(key, text)

    @staticmethod
    def _service_key(route: str, headers: CIMultiDict[str]) -> str:
        if route == "identity":
            return f"chroma.service:identity:{credential_digest(headers)}"
        return f"chroma.service:{route}"

    # -- tenants and databases ------------------------------------------------------
    def tenant(self, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self._state.get(_tenant_key(name))
        return found

    def tenants(self) -> list[str]:
        return [str(obj["name"]) for _, obj in self._state.items("chroma.tenant:")]

    def database_tenants(self) -> list[str]:
        """Tenants some known database belongs to (Chroma lists databases of any tenant)."""
        return list(dict.fromkeys(str(obj["tenant"])
                                  for _, obj in self._state.items("chroma.database:")))  # fmt: skip

    def seen_tenants(self) -> list[str]:
        """Every tenant known here: recorded ones and those of known databases."""
        return list(dict.fromkeys([*self.tenants(), *self.database_tenants()]))

    def listed(self, tenant: str) -> bool:
        return bool(self._state.get(_listed_key(tenant), False))

    def put_tenant(self, name: str) -> None:
        if self.tenant(name) is None:
            self._state.put(_tenant_key(name), tenant_object(name))

    def database(self, tenant: str, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self._state.get(_database_key(tenant, name))
        return found

    def databases(self, tenant: str) -> list[dict[str, Any]] | None:
        """Every database of ``tenant`` (in the order learned); None when the
        whole list was never read (then it cannot be answered from here)."""
        if not self.listed(tenant):
            return None
        return self.known_databases(tenant)

    def known_databases(self, tenant: str) -> list[dict[str, Any]]:
        """The databases of ``tenant`` seen so far, whether or not the list is whole."""
        return [obj for _, obj in self._state.items(_database_prefix(tenant))]

    def put_database(self, obj: dict[str, Any]) -> None:
        key = _database_key(str(obj["tenant"]), str(obj["name"]))
        if self._state.get(key) != obj:
            self._state.put(key, obj)

    def drop_database(self, tenant: str, name: str) -> None:
        self._state.delete(_database_key(tenant, name))

    def put_listed(self, tenant: str, objects: list[dict[str, Any]]) -> None:
        """A whole list of ``tenant``'s databases: it replaces what was known."""
        if self.listed(tenant) and self.known_databases(tenant) == objects:
            return  # unchanged (the usual case): nothing written
        for key, _ in self._state.items(_database_prefix(tenant)):
            self._state.delete(key)
        for obj in objects:
            self.put_database(obj)
        self._state.put(_listed_key(tenant), True)

    def unlisted(self, tenant: str) -> None:
        """A database was created where its id is not known: the list must be read again."""
        self._state.delete(_listed_key(tenant))

    # -- learning -------------------------------------------------------------------
    def record(self, route: Route, path_qs: str, headers: CIMultiDict[str], body: bytes,
               response: UpstreamResponse) -> None:  # fmt: skip
        """Keep what a 200 answer of the old store to a service route says."""
        if response.status != 200:
            return
        try:
            plain = inflate(response.body, response.headers.get("Content-Encoding", ""))
            self._learn(route, path_qs, headers, body, plain)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, OSError):
            log.debug("not recorded: an unexpected %s answer", route.name)

    def _learn(self, route: Route, path_qs: str, headers: CIMultiDict[str], body: bytes,
               answer: bytes) -> None:  # fmt: skip
        if route.name in SERVICE_ANSWERS:
            orjson.loads(answer)  # only JSON is kept
            self.put_service(route.name, headers, answer)
        elif route.name == "get_tenant":
            self.put_tenant(str(orjson.loads(answer)["name"]))
        elif route.name == "create_tenant":
            self.put_tenant(str(orjson.loads(body)["name"]))
        elif route.name == "get_database":
            self.put_database(_database_object(orjson.loads(answer)))
        elif route.name == "list_databases":
            objects = [_database_object(obj) for obj in orjson.loads(answer)]
            if "?" in path_qs:  # a page: the databases are known, the whole list is not
                for obj in objects:
                    self.put_database(obj)
            else:
                self.put_listed(route.tenant, objects)
        elif route.name == "create_database":
            self.unlisted(route.tenant)
        elif route.name == "delete_database":
            self.drop_database(route.tenant, route.database)

    async def refresh(self, send: Send, more_tenants: Sequence[str] = ()) -> None:
        """Read the service answers and every known tenant's databases from the old store.

        Failures are logged, never raised: the phase move goes on with what is known.
        """
        try:
            for name, path in SERVICE_PATHS.items():
                await self._read(send, Route(name, Kind.OTHER), path)
            tenants = dict.fromkeys([DEFAULT_TENANT, *self._identity_tenants(), *self.tenants(),
                                     *self.database_tenants(), *more_tenants])  # fmt: skip
            for tenant in tenants:
                path = tenant_path(tenant)
                await self._read(send, Route("get_tenant", Kind.OTHER, tenant), path)
                # Every tenant's list (Chroma lists databases of tenants it lacks too): a
                # database deleted since it was learned goes.
                await self._read(send, Route("list_databases", Kind.OTHER, tenant),
                                 path + "/databases")  # fmt: skip
        except UpstreamUnavailable as exc:
            log.warning("the old store's tenants and databases were not re-read: %s", exc)

    async def _read(self, send: Send, route: Route, path: str) -> bool:
        response = await send("GET", path)
        self.record(route, path, CIMultiDict(), b"", response)
        return response.status == 200

    def _identity_tenants(self) -> list[str]:
        tenants = []
        for _, text in self._state.items("chroma.service:identity:"):
            try:
                tenants.append(str(orjson.loads(text)["tenant"]))
            except (orjson.JSONDecodeError, KeyError, TypeError):
                continue
        return tenants


def _database_object(obj: Any) -> dict[str, Any]:
    return {"id": str(obj["id"]), "name": str(obj["name"]), "tenant": str(obj["tenant"])}
