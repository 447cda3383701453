"""Chroma (v2 REST, through aiohttp) as a ``VectorStore``.

Collections are addressed by name for collection calls and by UUID for record calls
(resolved once and cached; a 404 drops the cached UUID and retries once, in case the
collection was recreated under the same name).

Full-image upserts over a merging API (all observed on chromadb 1.5.9):

* ``upsert`` MERGES metadata: keys absent from the new metadata survive. They are sent
  as ``null``, which deletes a key.
* A ``null`` document or uri in an upsert KEEPS the stored one: neither can be cleared
  in place, so a record that must lose its document or uri is deleted and re-added.
  Between the two calls a reader does not see it, and it moves to the end of the
  insertion order (a scroll running meanwhile may return it twice, never skip it).
* Empty metadata has two spellings in Chroma: ``add`` stores ``{}`` as ``null``, while a
  record that has a uri (kept as a hidden metadata key) or whose keys were all deleted
  reads back as ``{}``. This adapter reads ``{}`` as ``None`` everywhere.
* Collection metadata cannot be emptied (``new_metadata: {}`` is a 400): a modify
  with no metadata keeps the old one. Renames across tenants/databases do not exist.
* Embeddings come back as float32; cosine collections are not normalised.
* Float metadata does not always round-trip bit-exactly: 98.66666666666667 reads back
  as 98.66666666666669 (server side, get and query alike). Compare floats with a
  tolerance.

``query`` passes ``where`` / ``where_document`` / ``ids`` through (Chroma evaluates them
natively); ``exact`` is ignored, Chroma's index is what it is.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import numpy as np

from adapters.base import (
    DEFAULT_DATABASE,
    DEFAULT_TENANT,
    CollectionKey,
    CollectionMissing,
    CollectionSpec,
    Hit,
    Page,
    QueryRequest,
    Record,
    StoreRejected,
)
from adapters.chroma_codec import records_from, spec_from, write_body
from adapters.chroma_cursor import scroll_page
from adapters.chroma_http import ChromaHttp

T = TypeVar("T")
FULL = ["embeddings", "metadatas", "documents", "uris"]
_LIST_PAGE = 100


def _db(tenant: str, database: str) -> str:
    return f"/tenants/{quote(tenant, safe='')}/databases/{quote(database, safe='')}"


def _coll(key: CollectionKey) -> str:
    return _db(key.tenant, key.database) + "/collections"


class ChromaStore:
    """``VectorStore`` over one Chroma server's v2 REST API."""

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        scopes: Sequence[tuple[str, str]] | None = None,
        timeout: float = 30.0,
        tenants: Callable[[], Iterable[str]] | None = None,
    ) -> None:
        """``scopes``: the (tenant, database) pairs ``list_collections`` walks; by default
        every database of the default tenant, of the credentials' own tenant and of the
        tenants ``tenants()`` names when asked (Chroma has no call that lists tenants)."""
        self._http = ChromaHttp(url, headers, timeout)
        self._scopes = list(scopes) if scopes else None
        self._more_tenants = tenants
        self._uuids: dict[CollectionKey, str] = {}
        self._max_batch: int | None = None

    async def health(self) -> bool:
        """True when the server answers its heartbeat."""
        try:
            await self._http.call("GET", "/heartbeat")
        except Exception:
            return False
        return True

    async def close(self) -> None:
        """Close the HTTP session."""
        await self._http.close()

    async def _batch(self) -> int:
        if self._max_batch is None:
            checks = await self._http.call("GET", "/pre-flight-checks")
            self._max_batch = int(checks.get("max_batch_size", 1000))
        return self._max_batch

    # -- collections ----------------------------------------------------------------------

    async def describe_collection(self, key: CollectionKey) -> CollectionSpec | None:
        """The collection's spec (``source_id`` = its UUID), or None."""
        try:
            body = await self._http.call("GET", f"{_coll(key)}/{quote(key.name, safe='')}")
        except CollectionMissing:
            self._uuids.pop(key, None)
            return None
        spec = spec_from(body)
        self._uuids[key] = str(body["id"])
        return spec

    async def _uuid(self, key: CollectionKey) -> str:
        if key not in self._uuids and await self.describe_collection(key) is None:
            raise CollectionMissing(f"collection {key} does not exist")
        return self._uuids[key]

    async def _on_records(self, key: CollectionKey, fn: Callable[[str], Awaitable[T]]) -> T:
        """``fn(records path)``, retried once with a fresh UUID if the cached one is gone."""
        for attempt in (1, 2):
            path = f"{_coll(key)}/{await self._uuid(key)}"
            try:
                return await fn(path)
            except CollectionMissing:
                self._uuids.pop(key, None)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def list_collections(self) -> list[CollectionSpec]:
        """Every collection of the (tenant, database) scopes (see ``__init__``)."""
        specs: list[CollectionSpec] = []
        for tenant, database in self._scopes or await self._discover_scopes():
            specs.extend(spec_from(body) for body in
                         await self._pages(f"{_db(tenant, database)}/collections"))
        return sorted(specs, key=lambda s: s.key)

    async def _discover_scopes(self) -> list[tuple[str, str]]:
        """Every database of the default tenant, the caller's own and the named ones."""
        tenants = [DEFAULT_TENANT]
        try:
            identity = await self._http.call("GET", "/auth/identity")
        except StoreRejected:
            identity = {}  # an older server without the identity call
        own = identity.get("tenant") if isinstance(identity, dict) else None
        if isinstance(own, str) and own not in tenants:
            tenants.append(own)
        for more in self._more_tenants() if self._more_tenants is not None else ():
            if more not in tenants:
                tenants.append(more)
        scopes: list[tuple[str, str]] = []
        for tenant in tenants:
            path = f"/tenants/{quote(tenant, safe='')}/databases"
            scopes.extend((tenant, str(db["name"])) for db in await self._pages(path))
        return scopes or [(DEFAULT_TENANT, DEFAULT_DATABASE)]

    async def _pages(self, path: str) -> list[Any]:
        """Every item of a ``limit``/``offset`` paged listing."""
        items: list[Any] = []
        while True:
            page = await self._http.call("GET", f"{path}?limit={_LIST_PAGE}&offset={len(items)}")
            items.extend(page)
            if len(page) < _LIST_PAGE:
                return items

    async def create_collection(self, spec: CollectionSpec) -> None:
        """get_or_create by name: an existing collection is left as it is."""
        hnsw = dict((spec.configuration or {}).get("hnsw") or {})
        hnsw["space"] = spec.space.value
        body: dict[str, Any] = {"name": spec.key.name, "get_or_create": True,
                                "metadata": spec.metadata or None}
        if "hnsw:space" not in (spec.metadata or {}):  # legacy key and config may not mix
            body["configuration"] = {"hnsw": hnsw}
        try:
            created = await self._http.call("POST", _coll(spec.key), body)
        except StoreRejected as exc:  # a missing database is a 400, a missing tenant a 404
            if "does not exist" not in str(exc):
                raise
            await self._ensure_database(spec.key.tenant, spec.key.database)
            created = await self._http.call("POST", _coll(spec.key), body)
        self._uuids[spec.key] = str(created["id"])

    async def _ensure_database(self, tenant: str, database: str) -> None:
        try:
            await self._http.call("GET", f"/tenants/{quote(tenant, safe='')}")
        except CollectionMissing:
            await self._http.call("POST", "/tenants", {"name": tenant})
        path = f"/tenants/{quote(tenant, safe='')}/databases"
        await self._http.call("POST", path, {"name": database})

    async def modify_collection(self, old: CollectionKey, spec: CollectionSpec) -> None:
        """Rename within the same database and/or replace non-empty metadata."""
        if (old.tenant, old.database) != (spec.key.tenant, spec.key.database):
            raise StoreRejected("chroma cannot move a collection to another tenant/database")
        body: dict[str, Any] = {}
        if spec.key.name != old.name:
            body["new_name"] = spec.key.name
        if spec.metadata:
            body["new_metadata"] = spec.metadata
        if body:
            await self._http.call("PUT", f"{_coll(old)}/{await self._uuid(old)}", body)
        self._uuids.pop(old, None)

    async def delete_collection(self, key: CollectionKey) -> None:
        """Delete by name; already gone is fine."""
        self._uuids.pop(key, None)
        with contextlib.suppress(CollectionMissing):
            await self._http.call("DELETE", f"{_coll(key)}/{quote(key.name, safe='')}")

    # -- records ------------------------------------------------------------------------

    async def upsert(self, spec: CollectionSpec, records: Sequence[Record]) -> None:
        """Write full images (see the module notes), creating the collection if needed."""
        if not records:
            return
        if any(r.embedding is None for r in records):
            raise StoreRejected("every record written to Chroma needs an embedding")
        if await self.describe_collection(spec.key) is None:
            await self.create_collection(spec)
        size = await self._batch()
        for start in range(0, len(records), size):
            chunk = records[start:start + size]
            await self._on_records(spec.key, functools.partial(self._upsert_chunk, records=chunk))

    async def _upsert_chunk(self, path: str, records: Sequence[Record]) -> None:
        asked = {"ids": [r.id for r in records], "include": ["metadatas", "documents", "uris"]}
        stored = {r.id: r for r in records_from(await self._http.call("POST", path + "/get",
                                                                        asked))}
        recreate: list[str] = []
        writes: list[Record] = []
        for record in records:
            old = stored.get(record.id)
            if old is None:
                writes.append(record)
            elif ((record.document is None and old.document is not None)
                  or (record.uri is None and old.uri is not None)):
                recreate.append(record.id)
                writes.append(record)
            else:
                # keys the new image lacks are sent as null: that deletes them
                fresh = record.metadata or {}
                merged = {**{k: None for k in old.metadata or {}}, **fresh}
                writes.append(Record(record.id, record.embedding, merged or None,
                                     record.document, record.uri))
        if recreate:
            await self._http.call("POST", path + "/delete", {"ids": recreate})
        await self._http.call("POST", path + "/upsert", write_body(writes))

    async def delete(self, key: CollectionKey, ids: Sequence[str]) -> None:
        """Delete by id; missing ids or a missing collection are not errors."""
        if not ids:
            return
        size = await self._batch()
        try:
            for start in range(0, len(ids), size):
                body = {"ids": list(ids[start:start + size])}
                await self._on_records(key, functools.partial(self._post, "/delete", body))
        except CollectionMissing:
            return

    async def get(self, key: CollectionKey, ids: Sequence[str]) -> list[Record]:
        """Full records for the ids that exist, in the order asked, each once."""
        wanted = list(dict.fromkeys(ids))
        size = await self._batch()
        found: dict[str, Record] = {}
        for start in range(0, len(wanted), size):
            body = {"ids": wanted[start:start + size], "include": FULL}
            answer = await self._on_records(key, functools.partial(self._post, "/get", body))
            found.update((r.id, r) for r in records_from(answer))
        return [found[i] for i in wanted if i in found]

    async def _post(self, suffix: str, body: Any, path: str) -> Any:
        return await self._http.call("POST", path + suffix, body)

    async def count(self, key: CollectionKey) -> int:
        """Number of records."""
        answer = await self._on_records(key, lambda p: self._http.call("GET", p + "/count"))
        return int(answer)

    async def _page(self, path: str, offset: int, limit: int, include: list[str]) -> Any:
        body = {"offset": offset, "limit": limit, "include": include}
        return await self._http.call("POST", path + "/get", body)

    async def scroll(self, key: CollectionKey, cursor: str | None, limit: int) -> Page:
        """A page in insertion order; safe against deletes between pages (chroma_cursor)."""
        async def fetch(path: str) -> Page:
            async def rows(offset: int, count: int, full: bool) -> list[Record]:
                return records_from(await self._page(path, offset, count, FULL if full else []))

            return await scroll_page(rows, cursor, limit)

        return await self._on_records(key, fetch)

    async def query(self, key: CollectionKey, request: QueryRequest) -> list[list[Hit]]:
        """Chroma's own nearest-neighbour search; distances as Chroma returns them."""
        include = ["metadatas", "documents", "uris", "distances"]
        body: dict[str, Any] = {
            "query_embeddings": [np.asarray(v, dtype=np.float32) for v in request.vectors],
            "n_results": request.k,
            "include": include + (["embeddings"] if request.with_embeddings else []),
        }
        for field, value in (("where", request.where), ("ids", request.ids),
                             ("where_document", request.where_document)):
            if value is not None:
                body[field] = value if field != "ids" else list(value)
        answer = await self._on_records(key, lambda p: self._http.call("POST", p + "/query",
                                                                        body))
        hits: list[list[Hit]] = []
        for i, distances in enumerate(answer["distances"]):
            flat = {f: (answer.get(f) or [None] * (i + 1))[i] for f in
                    ("ids", "embeddings", "metadatas", "documents", "uris")}
            records = records_from(flat)
            hits.append([Hit(r, float(d)) for r, d in zip(records, distances, strict=True)])
        return hits
