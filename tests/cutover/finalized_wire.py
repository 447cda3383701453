"""Support of the finalized collection-write wire tests: one request, two answerers.

:class:`Pair` sends the same bytes to a real Chroma 1.5.9 (raw HTTP) and to
``FinalizedCollections`` over a real local-mode Qdrant (the handler the proxy runs in
``finalized``; its only contact with Chroma is the database check, a real GET made by
the FinalizedService it is wired to, as in the proxy).
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDict

from adapters.base import CollectionKey
from adapters.qdrant import QdrantStore
from proxy.core.events import EventBus
from proxy.core.state import StateStore
from proxy.dialects.chroma.collections import collection_object
from proxy.dialects.chroma.cutover_catalog import TargetCollections
from proxy.dialects.chroma.facts import ChromaFacts
from proxy.dialects.chroma.finalized_collections import FinalizedCollections
from proxy.dialects.chroma.finalized_service import FinalizedService
from proxy.dialects.chroma.routes import classify
from proxy.journal.locks import WriteLocks
from proxy.upstream.forwarder import Forwarder

SCOPE = "/api/v2/tenants/default_tenant/databases/default_database"
JSON = {"Content-Type": "application/json"}
Answer = tuple[int, Any]  # status, decoded JSON (raw bytes when not JSON)


def decode(status: int, body: bytes) -> Answer:
    try:
        return status, orjson.loads(body)
    except orjson.JSONDecodeError:
        return status, body


def without_id(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != "id"}


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@dataclass
class Pair:
    """A real Chroma and the finalized handler, side by side."""

    session: aiohttp.ClientSession
    chroma_url: str
    handler: FinalizedCollections
    store: QdrantStore
    forwarder: Forwarder
    state: StateStore  # where the service keeps what it learns of Chroma

    async def chroma(self, method: str, path: str, body: bytes | None = None,
                     headers: dict[str, str] | None = None) -> Answer:  # fmt: skip
        """The real Chroma's answer (None: it dropped the connection)."""
        try:
            async with self.session.request(method, self.chroma_url + path, data=body,
                                            headers=JSON if headers is None else headers) as r:
                return decode(r.status, await r.read())
        except aiohttp.ServerDisconnectedError:
            return 0, None

    async def ours(self, method: str, path: str, body: bytes | None = None,
                   headers: dict[str, str] | None = None) -> Answer:  # fmt: skip
        route = classify(method, path.partition("?")[0])
        sent = CIMultiDict(JSON if headers is None else headers)
        answer = await self.handler.handle(route, method, path, sent, body or b"")
        return decode(answer.status, answer.body)

    async def both(self, method: str, path: str, body: bytes | None = None,
                   headers: dict[str, str] | None = None) -> tuple[Answer, Answer]:  # fmt: skip
        return (await self.chroma(method, path, body, headers),
                await self.ours(method, path, body, headers))  # fmt: skip

    async def create_both(self, body: dict[str, Any], scope: str = SCOPE) -> tuple[Any, Any]:
        """Create on both sides; both must accept. Their objects come back."""
        theirs, ours = await self.both("POST", scope + "/collections", orjson.dumps(body))
        assert theirs[0] == 200 and ours[0] == 200, (body, theirs, ours)
        return theirs[1], ours[1]

    async def chroma_object(self, name: str, scope: str = SCOPE) -> Any:
        return (await self.chroma("GET", f"{scope}/collections/{name}"))[1]

    async def our_object(self, name: str, tenant: str = "default_tenant",
                         database: str = "default_database") -> Any:  # fmt: skip
        """What the target's catalog renders for ``name`` (None when it has none)."""
        spec = await self.store.describe_collection(CollectionKey(name, tenant, database))
        return None if spec is None else collection_object(spec)


async def open_pair(chroma_url: str) -> Pair:
    store = await asyncio.to_thread(QdrantStore.open, path=":memory:")
    forwarder = Forwarder(chroma_url, EventBus())
    state = StateStore(Path(tempfile.mkdtemp(prefix="finalized-wire-")) / "state.sqlite")

    async def database_exists(tenant: str, database: str, headers: CIMultiDict[str]) -> bool | None:
        return await service.database_exists(tenant, database, headers)

    # Built as proxy/http/cutover_wiring.py builds it: the database check is the service's.
    handler = FinalizedCollections(store, TargetCollections(store), WriteLocks(),
                                   database_exists)  # fmt: skip
    service = FinalizedService(ChromaFacts(state), forwarder, handler)
    return Pair(aiohttp.ClientSession(), chroma_url, handler, store, forwarder, state)


async def close_pair(pair: Pair) -> None:
    await pair.session.close()
    await pair.forwarder.close()
    await pair.store.close()
    pair.state.close()
