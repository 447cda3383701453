"""Test support for collection-level reads: a real Chroma database scope, the dual-write
capture path into a Qdrant store (in-process), and Chroma's raw answers to compare with.

``Pipeline`` does what the proxy's write path does after a collection or record write
(proxy/writes/pipeline.py): capture the primary's state (proxy/dialects/chroma/capture.py),
send the changes
through the journal codec (proxy/journal/changes.py) and apply them (proxy/journal/applier.py).
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson
from multidict import CIMultiDict
from reads_diff import typed

from adapters.base import CollectionKey
from adapters.qdrant import QdrantStore
from proxy.core.events import EventBus
from proxy.dialects.chroma.capture import ChromaCapture, Scope
from proxy.dialects.chroma.read_translation import CollectionUnknown, TargetReader
from proxy.dialects.chroma.routes import classify
from proxy.journal.applier import apply_change
from proxy.journal.changes import (
    Change,
    PutCollection,
    RenameCollection,
    decode_change,
    encode_change,
)
from proxy.upstream.forwarder import Forwarder

TENANT = "default_tenant"


def new_database(http: httpx.Client) -> str:
    """A database of its own on the shared server: list/count see only this test's."""
    name = "db" + uuid.uuid4().hex[:10]
    resp = http.post(f"/api/v2/tenants/{TENANT}/databases", json={"name": name})
    assert resp.status_code == 200, resp.text
    return name


class Scoped:
    """Raw reads of one database scope, from Chroma directly and from the target."""

    def __init__(self, http: httpx.Client, reader: TargetReader, database: str) -> None:
        self.http, self.reader, self.database = http, reader, database
        self.prefix = f"/api/v2/tenants/{TENANT}/databases/{database}"

    def path(self, endpoint: str) -> str:
        return self.prefix + endpoint

    def chroma(self, endpoint: str) -> tuple[int, Any]:
        resp = self.http.get(self.path(endpoint))
        return resp.status_code, orjson.loads(resp.content)

    async def target(self, endpoint: str) -> tuple[int, Any]:
        path_qs = self.path(endpoint)
        route = classify("GET", path_qs.partition("?")[0])
        try:
            answer = await self.reader.answer(route, b"", path_qs)
        except CollectionUnknown as exc:
            answer = exc.answer
        return answer.status, orjson.loads(answer.body)

    async def assert_same(self, endpoint: str) -> Any:
        """The target's answer equals Chroma's (status and JSON content, types kept)."""
        expected = self.chroma(endpoint)
        got = await self.target(endpoint)
        assert typed(got) == typed(expected), f"{endpoint}:\n target {got}\n chroma {expected}"
        return expected[1]


class Pipeline:
    """The proxy's dual-write capture path, in-process: Chroma -> journal codec -> Qdrant."""

    def __init__(self, url: str, store: QdrantStore, database: str) -> None:
        self.forwarder = Forwarder(url, EventBus())
        self.capture = ChromaCapture(self.forwarder)
        self.store = store
        self.scope = Scope(TENANT, database)
        self.headers: CIMultiDict[str] = CIMultiDict({"Content-Type": "application/json"})

    async def close(self) -> None:
        await self.forwarder.close()

    async def _apply(self, changes: list[Change]) -> None:
        for change in changes:
            await apply_change(self.store, decode_change(encode_change(change)))

    async def collection(self, name: str) -> None:
        """After a create or delete of ``name``."""
        await self._apply(await self.capture.collection_state(self.scope, name, self.headers))

    async def modified(self, collection_id: str, old_name: str) -> None:
        """After a modify (rename and/or metadata/configuration) of a collection."""
        spec = await self.capture.collection_by_id(self.scope, collection_id, self.headers)
        assert spec is not None
        old = CollectionKey(old_name, TENANT, self.scope.database)
        change: Change = PutCollection(spec) if spec.key == old else RenameCollection(old, spec)
        await self._apply([change])

    async def records(self, collection_id: str, ids: list[str]) -> None:
        """After a record write touching ``ids``."""
        spec = await self.capture.collection_by_id(self.scope, collection_id, self.headers)
        assert spec is not None
        await self._apply(await self.capture.records(self.scope, spec, ids, self.headers))
