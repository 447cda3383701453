"""The Chroma v2 REST dialect: which request is which.

Classification is by method and path only (never by body), so it costs one regex match
on the hot path. Record operations name their collection by UUID; collection
operations by name (delete, get) or by UUID (modify).

Collection-level reads: ``get_collection`` (``GET .../collections/{name}``),
``list_collections`` (``GET .../collections``, query ``limit``/``offset``) and
``count_collections`` (``GET .../collections_count``); any other ``GET`` under
``.../collections`` (trailing slashes, unknown sub-paths) is ``collection_read``;
``GET .../collections/by-id/{uuid}`` is ``get_collection_by_id``.

Service, tenant and database requests (heartbeat, version, pre-flight checks,
identity, tenants, databases) have names of their own (``SERVICE_ROUTES``): the
proxy answers them itself once the old store is retired (finalized_service.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote


class Kind(StrEnum):
    WRITE = "write"
    READ = "read"
    OTHER = "other"


@dataclass(frozen=True)
class Route:
    """A classified request: the route name (a metric label) and its path parameters."""

    name: str
    kind: Kind
    tenant: str = ""
    database: str = ""
    collection: str = ""  # a UUID for record routes and modify, a name for delete/get

    @property
    def is_write(self) -> bool:
        return self.kind is Kind.WRITE

    @property
    def sticky_key(self) -> str:
        """What canary stickiness hashes with the sticky header: the collection UUID of
        record reads; for collection-level reads (no UUID: a name, or none for list and
        count) the database scope, so one app user sees every collection-level read of
        a database answered by the same store."""
        if self.name in COLLECTION_READS:
            return f"db:{self.tenant}/{self.database}"
        return self.collection


COLLECTION_READS = frozenset({"get_collection", "list_collections", "count_collections"})
_TENANT = r"^/api/v2/tenants/(?P<tenant>[^/]+)"
_SCOPE = _TENANT + r"/databases/(?P<database>[^/]+)"
_RECORD_WRITES = ("add", "upsert", "update", "delete")
_TABLE: list[tuple[str, re.Pattern[str], str, Kind]] = [
    ("POST", re.compile(_SCOPE + r"/collections/?$"), "create_collection", Kind.WRITE),
    ("PUT", re.compile(_SCOPE + r"/collections/(?P<c>[^/]+)$"), "modify_collection", Kind.WRITE),
    ("DELETE", re.compile(_SCOPE + r"/collections/(?P<c>[^/]+)$"), "delete_collection", Kind.WRITE),
    ("DELETE", re.compile(_SCOPE + r"/?$"), "delete_database", Kind.WRITE),
    (
        "POST",
        re.compile(_SCOPE + r"/collections/(?P<c>[^/]+)/(?P<op>add|upsert|update|delete)$"),
        "",
        Kind.WRITE,
    ),
    ("POST", re.compile(_SCOPE + r"/collections/(?P<c>[^/]+)/(?P<op>get|query)$"), "", Kind.READ),
    ("GET", re.compile(_SCOPE + r"/collections/(?P<c>[^/]+)/count$"), "count", Kind.READ),
    ("GET", re.compile(_SCOPE + r"/collections$"), "list_collections", Kind.READ),
    ("GET", re.compile(_SCOPE + r"/collections_count$"), "count_collections", Kind.READ),
    ("GET", re.compile(_SCOPE + r"/collections/(?P<c>[^/]+)$"), "get_collection", Kind.READ),
    (
        "GET",
        re.compile(_SCOPE + r"/collections/by-id/(?P<c>[^/]+)$"),
        "get_collection_by_id",
        Kind.READ,
    ),
    ("GET", re.compile(_SCOPE + r"/collections(/.*)?$"), "collection_read", Kind.READ),
    ("GET", re.compile(_SCOPE + r"$"), "get_database", Kind.OTHER),
    ("GET", re.compile(_TENANT + r"/databases$"), "list_databases", Kind.OTHER),
    ("POST", re.compile(_TENANT + r"/databases$"), "create_database", Kind.OTHER),
    ("GET", re.compile(_TENANT + r"$"), "get_tenant", Kind.OTHER),
]
# Exact paths outside any tenant.
_SERVICE = {
    ("GET", "/api/v2"): "root",
    ("GET", "/api/v2/heartbeat"): "heartbeat",
    ("GET", "/api/v2/version"): "version",
    ("GET", "/api/v2/pre-flight-checks"): "pre_flight_checks",
    ("GET", "/api/v2/healthcheck"): "healthcheck",
    ("GET", "/api/v2/auth/identity"): "identity",
    ("POST", "/api/v2/tenants"): "create_tenant",
}
SERVICE_ROUTES = frozenset(
    {*_SERVICE.values(), "get_tenant", "list_databases", "create_database", "get_database"}
)


def classify(method: str, path: str) -> Route:
    """Name the route of a Chroma v2 request; unknown ones are ``other``."""
    if not path.startswith("/api/v2/tenants/"):
        service = _SERVICE.get((method, path))
        return Route(service or "other", Kind.OTHER)
    for table_method, pattern, name, kind in _TABLE:
        if method != table_method:
            continue
        match = pattern.match(path)
        if match is None:
            continue
        groups = match.groupdict()
        return Route(
            name=name or groups["op"],
            kind=kind,
            tenant=unquote(groups.get("tenant") or ""),
            database=unquote(groups.get("database") or ""),
            collection=unquote(groups.get("c") or ""),
        )
    return Route("other", Kind.OTHER)


def is_record_write(route: Route) -> bool:
    return route.name in _RECORD_WRITES
