"""ChromaFacts (proxy/dialects/chroma/facts.py) against real Chroma 1.5.9 answers.

Answers are real: a ``Forwarder`` asks a real Chroma, and what it returns is given to
``record`` or read by ``refresh``; only the compressed and the malformed answers are
made here, from real bodies. Facts live in a real ``StateStore`` file.
"""

from __future__ import annotations

import gzip
import socket
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from multidict import CIMultiDict

from proxy.core.events import EventBus
from proxy.core.state import StateStore
from proxy.dialects.chroma.facts import SERVICE_PATHS, ChromaFacts, credential_digest
from proxy.dialects.chroma.routes import classify
from proxy.upstream.embedded_chroma import EmbeddedChroma
from proxy.upstream.forwarder import Forwarder, UpstreamResponse

pytestmark = pytest.mark.timeout(60)
DATABASES = "/api/v2/tenants/default_tenant/databases"
JSON = {"Content-Type": "application/json"}


class Old:
    """A real Chroma asked through the proxy's forwarder, and the facts kept of it."""

    def __init__(self, url: str, state_path: Path) -> None:
        self.forwarder = Forwarder(url, EventBus(), "source")
        self.state = StateStore(state_path)
        self.facts = ChromaFacts(self.state)

    async def send(self, method: str, path: str, body: bytes | None = None,
                   headers: dict[str, str] | None = None) -> UpstreamResponse:  # fmt: skip
        sent = CIMultiDict(JSON if headers is None else headers)
        return await self.forwarder.send(method, path, sent, body, route="capture")

    async def read(self, method: str, path: str) -> UpstreamResponse:
        """The ``send`` refresh is given (as proxy/http/cutover_wiring.py gives it)."""
        return await self.forwarder.send(method, path, CIMultiDict(), None, route="capture")

    async def passed(self, method: str, path: str, body: bytes | None = None,
                     headers: dict[str, str] | None = None) -> UpstreamResponse:  # fmt: skip
        """A request that passes through the proxy: sent, and its answer recorded."""
        response = await self.send(method, path, body, headers)
        route = classify(method, path.partition("?")[0])
        self.facts.record(route, path, CIMultiDict(headers or {}), body or b"", response)
        return response

    async def close(self) -> None:
        await self.forwarder.close()
        self.state.close()


@pytest.fixture
async def fresh(fresh_chroma: EmbeddedChroma, tmp_path: Path) -> AsyncIterator[Old]:
    old = Old(fresh_chroma.url, tmp_path / "state.sqlite")
    yield old
    await old.close()


@pytest.fixture
async def shared(chroma_server: EmbeddedChroma, tmp_path: Path) -> AsyncIterator[Old]:
    """Over the session's Chroma: only for tests that create nothing in it."""
    old = Old(chroma_server.url, tmp_path / "state.sqlite")
    yield old
    await old.close()


def body_of(response: UpstreamResponse) -> Any:
    assert response.status == 200, response
    return orjson.loads(response.body)


def names(objects: list[dict[str, Any]] | None) -> list[str]:
    assert objects is not None
    return sorted(str(obj["name"]) for obj in objects)


async def test_refresh_reads_chroma(fresh: Old) -> None:
    """Service answers, and the databases of every tenant it knows of, as Chroma has them."""
    for name in ("db-b", "db-a"):  # straight to Chroma, never through the proxy
        assert (await fresh.send("POST", DATABASES, orjson.dumps({"name": name}))).status == 200
    assert (await fresh.send("POST", "/api/v2/tenants", b'{"name": "t-known"}')).status == 200
    assert (await fresh.send("POST", "/api/v2/tenants/t-known/databases",
                             b'{"name": "tk-db"}')).status == 200  # fmt: skip
    fresh.facts.put_tenant("t-known")
    fresh.facts.put_tenant("t-gone")  # known here, not in Chroma: nothing to read of it
    await fresh.facts.refresh(fresh.read)
    for route, path in SERVICE_PATHS.items():
        assert fresh.facts.service(route, CIMultiDict()) == (await fresh.send("GET", path)).body
    assert fresh.facts.databases("default_tenant") == body_of(await fresh.send("GET", DATABASES))
    assert names(fresh.facts.databases("default_tenant")) == ["db-a", "db-b", "default_database"]
    assert fresh.facts.databases("t-known") == body_of(
        await fresh.send("GET", "/api/v2/tenants/t-known/databases"))
    assert fresh.facts.databases("t-gone") == []  # Chroma lists databases of any tenant
    assert fresh.facts.tenant("default_tenant") == {"name": "default_tenant",
                                                    "resource_name": None}  # fmt: skip
    assert (await fresh.send("DELETE", DATABASES + "/db-a")).status == 200
    assert (await fresh.send("POST", DATABASES, b'{"name": "db-c"}')).status == 200
    await fresh.facts.refresh(fresh.read)  # what changed in Chroma since
    assert names(fresh.facts.databases("default_tenant")) == ["db-b", "db-c", "default_database"]
    assert fresh.facts.database("default_tenant", "db-a") is None
    # A tenant only named (source.tenants): read too, though nothing recorded it.
    assert (await fresh.send("POST", "/api/v2/tenants", b'{"name": "t-named"}')).status == 200
    assert (await fresh.send("POST", "/api/v2/tenants/t-named/databases",
                             b'{"name": "tn-db"}')).status == 200  # fmt: skip
    await fresh.facts.refresh(fresh.read, ["t-named"])
    assert fresh.facts.tenant("t-named") is not None
    assert names(fresh.facts.databases("t-named")) == ["tn-db"]


async def test_refresh_without_chroma_keeps_what_is_known(tmp_path: Path) -> None:
    with socket.socket() as parked:  # bound, never listening: connections are refused
        parked.bind(("127.0.0.1", 0))
        old = Old(f"http://127.0.0.1:{parked.getsockname()[1]}", tmp_path / "state.sqlite")
        try:
            old.facts.put_listed("default_tenant", [{"id": "x", "name": "kept",
                                                     "tenant": "default_tenant"}])  # fmt: skip
            await old.facts.refresh(old.read)  # logged, not raised
            assert names(old.facts.databases("default_tenant")) == ["kept"]
            assert old.facts.service("version", CIMultiDict()) is None
        finally:
            await old.close()


async def test_identity_is_kept_per_credentials(shared: Old) -> None:
    creds = [{"Authorization": "Bearer secret-one"}, {"Authorization": "Bearer secret-two"},
             {"X-Chroma-Token": "secret-three"}, {}]  # fmt: skip
    bodies = []
    for headers in creds:
        response = await shared.passed("GET", "/api/v2/auth/identity", None, headers)
        bodies.append(body_of(response))
    assert bodies[0]["tenant"] == "default_tenant"
    kept = shared.state.items("chroma.service:identity:")
    assert len(kept) == 4 and len({key for key, _ in kept}) == 4
    for headers, body in zip(creds, bodies, strict=True):
        assert orjson.loads(shared.facts.service("identity", CIMultiDict(headers)) or b"") == body
    assert shared.facts.service("identity", CIMultiDict({"authorization": "Bearer secret-one"}))
    assert shared.facts.service("identity", CIMultiDict({"Authorization": "Bearer other"})) is None
    assert credential_digest(CIMultiDict()) == ""
    stored = b"".join(f.read_bytes() for f in shared.state.path.parent.glob("state.sqlite*"))
    assert stored and b"secret-" not in stored  # a digest is kept, never the credentials


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_compressed_answer_is_recorded_decoded(shared: Old, encoding: str) -> None:
    for route_path in ("/api/v2/version", DATABASES, DATABASES + "/default_database"):
        plain = await shared.send("GET", route_path)
        squeezed = gzip.compress(plain.body) if encoding == "gzip" else zlib.compress(plain.body)
        headers = CIMultiDict(plain.headers)
        headers["Content-Encoding"] = encoding
        response = UpstreamResponse(200, headers, squeezed)
        shared.facts.record(classify("GET", route_path), route_path, CIMultiDict(), b"", response)
    assert shared.facts.service("version", CIMultiDict()) == b'"1.0.0"'
    default = body_of(await shared.send("GET", DATABASES + "/default_database"))
    assert shared.facts.database("default_tenant", "default_database") == default
    assert default in (shared.facts.databases("default_tenant") or [])


async def test_only_200_json_answers_are_recorded(shared: Old) -> None:
    misses = ["/api/v2/tenants/no-such-tenant", DATABASES + "/no-such-db", DATABASES + "/zz",
              DATABASES + "?limit=x", "/api/v2/tenants/no-such-tenant/databases/zzz"]
    for path in misses:
        response = await shared.passed("GET", path)
        assert response.status in (400, 404), (path, response)
    assert shared.facts.tenant("no-such-tenant") is None
    assert shared.facts.database("default_tenant", "no-such-db") is None
    assert shared.facts.databases("default_tenant") is None
    assert shared.state.items("chroma.") == []
    refused = await shared.send("POST", "/api/v2/tenants", b'{"name": 5}')
    assert refused.status == 422
    shared.facts.record(classify("POST", "/api/v2/tenants"), "/api/v2/tenants",
                        CIMultiDict(), b'{"name": 5}', refused)  # fmt: skip
    not_json = UpstreamResponse(200, CIMultiDict(), b"<html>ok</html>")
    shared.facts.record(classify("GET", "/api/v2/version"), "/api/v2/version",
                        CIMultiDict(), b"", not_json)  # fmt: skip
    assert shared.state.items("chroma.") == []


async def test_lists_pages_creates_and_deletes(fresh: Old) -> None:
    for name in ("db-one", "db-two", "db-three"):
        assert (await fresh.passed("POST", DATABASES, orjson.dumps({"name": name}))).status == 200
    assert fresh.facts.databases("default_tenant") is None  # ids unknown: not a whole list
    await fresh.passed("GET", DATABASES + "?limit=1&offset=1")
    assert fresh.facts.databases("default_tenant") is None  # a page is not the whole list
    assert names(fresh.facts.known_databases("default_tenant")) == ["db-three"]
    await fresh.passed("GET", DATABASES)
    whole = body_of(await fresh.send("GET", DATABASES))
    assert fresh.facts.databases("default_tenant") == whole
    fresh.facts.put_listed("default_tenant", whole[:1])  # a later list replaces the earlier
    assert fresh.facts.databases("default_tenant") == whole[:1]
    assert fresh.facts.database("default_tenant", "db-two") is None
    await fresh.passed("GET", DATABASES)
    assert (await fresh.passed("DELETE", DATABASES + "/db-two")).status == 200
    assert fresh.facts.database("default_tenant", "db-two") is None
    assert names(fresh.facts.databases("default_tenant")) == ["db-one", "db-three",
                                                              "default_database"]  # fmt: skip
    await fresh.passed("POST", DATABASES, b'{"name": "db-four"}')
    assert fresh.facts.databases("default_tenant") is None  # must be read again
    await fresh.passed("POST", "/api/v2/tenants", b'{"name": "t-made"}')
    assert fresh.facts.tenant("t-made") == {"name": "t-made", "resource_name": None}
    assert fresh.facts.databases("t-made") is None
