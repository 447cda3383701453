"""Change data capture from the Chroma primary.

After a write succeeds, the proxy reads the touched rows (or collection) back from the
primary and journals their full image. That makes the journal independent of Chroma's
write semantics (``add`` ignoring existing ids, metadata merges, null deleting a key,
base64 embeddings): whatever the primary now holds is what the secondary will hold.
Capture is a pure function of (what was touched) -> (current state), so a crash
between forwarding and journaling is repaired by capturing again at start-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from multidict import CIMultiDict

from adapters.base import CollectionKey, CollectionSpec, Record, Space
from proxy.journal.changes import (
    Change,
    DeleteRecords,
    DropCollection,
    PutCollection,
    UpsertRecords,
)
from proxy.upstream.forwarder import Forwarder, UpstreamUnavailable

# Chroma fails a get with more than 32,766 SQL variables; stay far below it.
READBACK_CHUNK = 5000
# Headers that carry the app's credentials to the primary; reused for read-backs.
CREDENTIAL_HEADERS = ("Authorization", "X-Chroma-Token", "Cookie")


class CaptureFailed(Exception):
    """The primary could not tell us its current state; the intent stays for a retry.

    ``status`` is the primary's HTTP status when it answered (None when unreachable).
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Scope:
    tenant: str
    database: str

    @property
    def prefix(self) -> str:
        return f"/api/v2/tenants/{self.tenant}/databases/{self.database}"


def credentials(headers: CIMultiDict[str]) -> CIMultiDict[str]:
    """The subset of the app's headers needed to read back from the primary."""
    out: CIMultiDict[str] = CIMultiDict({"Content-Type": "application/json"})
    for name in CREDENTIAL_HEADERS:
        for value in headers.getall(name, []):
            out.add(name, value)
    return out


def spec_from_chroma(body: dict[str, Any]) -> CollectionSpec:
    """A CollectionSpec from Chroma's collection JSON (kept whole as ``source_object``)."""
    configuration = body.get("configuration_json") or {}
    metadata = body.get("metadata")
    space = ((configuration.get("hnsw") or {}).get("space")) or ((metadata or {}).get("hnsw:space"))
    return CollectionSpec(
        key=CollectionKey(name=body["name"], tenant=body["tenant"], database=body["database"]),
        space=Space(space or "l2"),
        dimension=body.get("dimension"),
        metadata=metadata,
        configuration=configuration or None,
        source_id=body["id"],
        source_object=body,
    )


def records_from_chroma(body: dict[str, Any]) -> list[Record]:
    ids: list[str] = body["ids"]
    embeddings = body.get("embeddings") or [None] * len(ids)
    metadatas = body.get("metadatas") or [None] * len(ids)
    documents = body.get("documents") or [None] * len(ids)
    uris = body.get("uris") or [None] * len(ids)
    return [
        Record(
            id=id_,
            embedding=None if emb is None else np.asarray(emb, dtype=np.float32),
            metadata=meta,
            document=doc,
            uri=uri,
        )
        for id_, emb, meta, doc, uri in zip(
            ids, embeddings, metadatas, documents, uris, strict=True
        )
    ]


class ChromaCapture:
    """Reads the primary's current state of whatever a write touched."""

    def __init__(self, primary: Forwarder) -> None:
        self._primary = primary

    async def _call(
        self, method: str, path: str, headers: CIMultiDict[str], body: Any = None
    ) -> Any:
        data = None if body is None else orjson.dumps(body)
        try:
            resp = await self._primary.send(method, path, headers, data, route="capture")
        except UpstreamUnavailable as exc:
            raise CaptureFailed(str(exc)) from exc
        if resp.status == 404:
            return None
        if not resp.ok:
            raise CaptureFailed(
                f"{method} {path} -> {resp.status}: {resp.body[:200]!r}", status=resp.status
            )
        return orjson.loads(resp.body)

    async def collection_by_id(
        self, scope: Scope, collection_id: str, headers: CIMultiDict[str]
    ) -> CollectionSpec | None:
        body = await self._call("GET", f"{scope.prefix}/collections/by-id/{collection_id}", headers)
        return None if body is None else spec_from_chroma(body)

    async def collection_by_name(
        self, scope: Scope, name: str, headers: CIMultiDict[str]
    ) -> CollectionSpec | None:
        body = await self._call("GET", f"{scope.prefix}/collections/{name}", headers)
        return None if body is None else spec_from_chroma(body)

    async def list_collections(
        self, scope: Scope, headers: CIMultiDict[str]
    ) -> list[CollectionSpec]:
        specs: list[CollectionSpec] = []
        offset = 0
        while True:
            page = await self._call(
                "GET", f"{scope.prefix}/collections?limit=100&offset={offset}", headers
            )
            if not page:
                return specs
            specs.extend(spec_from_chroma(c) for c in page)
            offset += len(page)

    async def matching_ids(
        self,
        scope: Scope,
        collection_id: str,
        headers: CIMultiDict[str],
        selector: dict[str, Any],
    ) -> list[str] | None:
        """Ids a delete-by-filter will remove, resolved before it runs (None: primary says no)."""
        query = {k: selector[k] for k in ("ids", "where", "where_document") if selector.get(k)}
        path = f"{scope.prefix}/collections/{collection_id}/get"
        try:
            resp = await self._primary.send(
                "POST", path, headers, orjson.dumps({**query, "include": []}), route="capture"
            )
        except UpstreamUnavailable as exc:
            raise CaptureFailed(str(exc)) from exc
        if not resp.ok:
            return None  # the filter is invalid: the delete itself will fail the same way
        ids: list[str] = orjson.loads(resp.body)["ids"]
        return ids

    async def records(
        self, scope: Scope, spec: CollectionSpec, ids: Sequence[str], headers: CIMultiDict[str]
    ) -> list[Change]:
        """Upserts for the ids that exist and a delete for those that do not."""
        wanted = list(dict.fromkeys(ids))
        found: list[Record] = []
        path = f"{scope.prefix}/collections/{spec.source_id}/get"
        for start in range(0, len(wanted), READBACK_CHUNK):
            chunk = wanted[start : start + READBACK_CHUNK]
            include = ["embeddings", "metadatas", "documents", "uris"]
            body = await self._call("POST", path, headers, {"ids": chunk, "include": include})
            if body is None:  # the collection vanished meanwhile
                return [DropCollection(spec.key)]
            found.extend(records_from_chroma(body))
        changes: list[Change] = []
        present = {r.id for r in found}
        if found:
            dimension = found[0].embedding.shape[0] if found[0].embedding is not None else None
            full_spec = spec if dimension is None else spec.with_dimension(dimension)
            changes.append(UpsertRecords(full_spec, tuple(found)))
        missing = tuple(i for i in wanted if i not in present)
        if missing:
            changes.append(DeleteRecords(spec.key, missing))
        return changes

    async def collection_state(
        self, scope: Scope, name: str, headers: CIMultiDict[str]
    ) -> list[Change]:
        """PutCollection if the named collection exists, else DropCollection."""
        spec = await self.collection_by_name(scope, name, headers)
        key = CollectionKey(name=name, tenant=scope.tenant, database=scope.database)
        return [DropCollection(key)] if spec is None else [PutCollection(spec)]
