"""Support of the finalized service wire tests: learn from one Chroma, then switch it off.

:class:`Rig` builds the handler as proxy/http/cutover_wiring.py does (``ChromaFacts`` over a
``StateStore`` file, a ``Forwarder`` to the old Chroma, ``FinalizedCollections`` over a
local-mode Qdrant, ``FinalizedService``). Before ``finalized`` the app's requests take
the proxy's path (:meth:`Rig.before`: the routes the service takes pass through it and
are recorded; the rest go straight to Chroma). :meth:`Rig.switch_off` does what the
move to ``finalized`` does (the facts are re-read while the old store answers), then
cuts the handler off: its old store becomes an address nothing answers on, as once
Chroma is stopped. That Chroma keeps running for the test alone, as the reference
(equal to what the old store was, down to every id); :meth:`Rig.both` sends it the
same bytes as the handler, and it never hears from the handler again. Stopping the
real process is tests/cutover/test_finalized_without_chroma_e2e.py's part. Before
:meth:`Rig.switch_off` the handler still reaches that Chroma, which it then shares
with the reference: :meth:`Rig.both` asks the handler first, so that its creates are
not answered by what the reference has just created.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from finalized_wire import JSON, Answer, decode
from multidict import CIMultiDict

from adapters.qdrant import QdrantStore
from proxy.core.config import Phase
from proxy.core.events import EventBus
from proxy.core.state import StateStore
from proxy.dialects.chroma.capture import spec_from_chroma
from proxy.dialects.chroma.cutover_catalog import TargetCollections
from proxy.dialects.chroma.facts import ChromaFacts
from proxy.dialects.chroma.finalized_collections import FinalizedCollections
from proxy.dialects.chroma.finalized_service import FinalizedService
from proxy.dialects.chroma.routes import classify
from proxy.journal.applier import apply_change
from proxy.journal.changes import PutCollection
from proxy.journal.locks import WriteLocks
from proxy.upstream.embedded_chroma import EmbeddedChroma
from proxy.upstream.forwarder import Forwarder, UpstreamResponse, UpstreamUnavailable

TENANTS = "/api/v2/tenants"
DATABASES = TENANTS + "/default_tenant/databases"
SCOPE = DATABASES + "/default_database"


def parked_port() -> socket.socket:
    """A bound socket that never listens: connecting to its port is refused, and no other
    server can take the port while it is held (a stopped server's port could be reused)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


class Rig:
    """The finalized service handler and its old Chroma (the reference too)."""

    def __init__(self, old: EmbeddedChroma, state_path: Path, store: QdrantStore) -> None:
        self.old = old
        self.state = StateStore(state_path)
        self.facts = ChromaFacts(self.state)
        self.store = store
        self.live = Forwarder(old.url, EventBus(), "source")
        self.collections = FinalizedCollections(store, TargetCollections(store), WriteLocks(),
                                                self._database_exists)  # fmt: skip
        self.service = FinalizedService(self.facts, self.live, self.collections)
        self.session = aiohttp.ClientSession()
        self.switched_off = False
        self._dead: Forwarder | None = None
        self._parked: socket.socket | None = None

    @classmethod
    async def open(cls, old: EmbeddedChroma, state_path: Path) -> Rig:
        store = await asyncio.to_thread(QdrantStore.open, path=":memory:")
        return cls(old, state_path, store)

    async def close(self) -> None:
        await self.session.close()
        await self.live.close()
        if self._dead is not None:
            await self._dead.close()
        await self.store.close()
        self.state.close()
        if self._parked is not None:
            self._parked.close()

    async def _database_exists(self, tenant: str, database: str,
                               headers: CIMultiDict[str]) -> bool | None:  # fmt: skip
        return await self.service.database_exists(tenant, database, headers)

    # -- the app's requests ---------------------------------------------------------------
    async def chroma(self, method: str, path: str, body: bytes | None = None,
                     headers: dict[str, str] | None = None) -> Answer:  # fmt: skip
        """The reference Chroma's answer."""
        async with self.session.request(method, self.old.url + path, data=body,
                                        headers=JSON if headers is None else headers) as r:
            return decode(r.status, await r.read())

    async def ours(self, method: str, path: str, body: bytes | None = None,
                   headers: dict[str, str] | None = None) -> Answer:  # fmt: skip
        """The finalized proxy's answer (its write and read paths, as proxy/writes/cutover.py and
        proxy/reads/path.py dispatch them; an unreachable old store as proxy/http/server.py
        says it)."""
        try:
            answer = await self.answer(method, path, body, headers, Phase.FINALIZED)
        except UpstreamUnavailable as exc:
            status = 504 if exc.timed_out else 502
            return status, {"error": "UpstreamUnavailable", "message": f"vecbridge: {exc}"}
        return decode(answer.status, answer.body)

    async def answer(self, method: str, path: str, body: bytes | None,
                     headers: dict[str, str] | None, phase: Phase) -> UpstreamResponse:  # fmt: skip
        route = classify(method, path.partition("?")[0])
        sent = CIMultiDict(JSON if headers is None else headers)
        if phase is Phase.FINALIZED and self.collections.answers(route):
            return await self.collections.handle(route, method, path, sent, body or b"")
        known = self.service.takes_read(route) or self.service.takes_write(route)
        assert known, f"not a route of the finalized service: {method} {path}"
        return await self.service.handle(route, method, path, sent, body or b"", phase)

    async def both(self, method: str, path: str, body: bytes | None = None,
                   headers: dict[str, str] | None = None) -> tuple[Answer, Answer]:  # fmt: skip
        """(reference Chroma, proxy): the proxy first, so that with a live old store its
        creates are not answered by what the reference has just created."""
        ours = await self.ours(method, path, body, headers)
        return await self.chroma(method, path, body, headers), ours

    async def before(self, method: str, path: str, body: bytes | None = None,
                     headers: dict[str, str] | None = None) -> Answer:  # fmt: skip
        """An app request before ``finalized`` (cutover): the service routes of reads pass
        through the handler and are recorded; writes (delete database) go to Chroma."""
        route = classify(method, path.partition("?")[0])
        if not self.service.takes_read(route):
            return await self.chroma(method, path, body, headers)
        answer = await self.answer(method, path, body, headers, Phase.CUTOVER)
        return decode(answer.status, answer.body)

    # -- set-up ---------------------------------------------------------------------------
    async def migrate(self, name: str, database: str = "default_database",
                      tenant: str = "default_tenant") -> dict[str, Any]:  # fmt: skip
        """A collection made in the old Chroma and copied to the new store (as the backfill
        does: same id, Chroma's object kept). Its Chroma object comes back."""
        path = f"{TENANTS}/{tenant}/databases/{database}/collections"
        status, obj = await self.chroma("POST", path, orjson.dumps({"name": name}))
        assert status == 200, obj
        await apply_change(self.store, PutCollection(spec_from_chroma(obj)))
        return dict(obj)

    async def refresh(self) -> None:
        """What the proxy does on a move to cutover or finalized (cutover_install.py)."""

        async def read_old(method: str, path: str) -> UpstreamResponse:
            return await self.live.send(method, path, CIMultiDict(), None, route="capture")

        await self.facts.refresh(read_old)

    async def switch_off(self) -> None:
        """Move to finalized, then cut the handler off from the old Chroma for good."""
        assert not self.switched_off
        await self.refresh()
        self.switched_off = True
        self._parked = parked_port()
        dead_url = f"http://127.0.0.1:{self._parked.getsockname()[1]}"
        self._dead = Forwarder(dead_url, EventBus(), "source", connect_timeout=2.0,
                               request_timeout=5.0)  # fmt: skip
        # As the proxy's forwarder once Chroma is stopped: nothing answers at its address.
        self.service = FinalizedService(self.facts, self._dead, self.collections)
