"""Fixtures for the read-translation tests: mirrored collections on a real Chroma server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import chromadb
import httpx
import orjson
import pytest
from qdrant_client import QdrantClient
from reads_mirror import Mirror, build_mirror

from adapters.base import Space
from proxy.upstream.embedded_chroma import EmbeddedChroma

API = "/api/v2/tenants/default_tenant/databases/default_database"


@dataclass
class RawChroma:
    """Raw HTTP access to the real server: exactly what the proxy would forward."""

    http: httpx.Client

    def post(self, collection_id: str, verb: str, body: Any) -> tuple[int, Any]:
        resp = self.http.post(
            f"{API}/collections/{collection_id}/{verb}",
            content=orjson.dumps(body),
            headers={"Content-Type": "application/json"},
        )
        return resp.status_code, orjson.loads(resp.content)

    def count(self, collection_id: str) -> Any:
        return orjson.loads(self.http.get(f"{API}/collections/{collection_id}/count").content)


@pytest.fixture(scope="session")
def raw_chroma(chroma_server: EmbeddedChroma) -> Iterator[RawChroma]:
    with httpx.Client(base_url=chroma_server.url, timeout=30.0) as http:
        yield RawChroma(http)


@pytest.fixture(scope="session")
def chroma_app(chroma_server: EmbeddedChroma) -> Any:
    """The chromadb client, as the application uses it."""
    return chromadb.HttpClient(host=chroma_server.host, port=chroma_server.port)


@pytest.fixture(scope="session")
def read_qdrant() -> Iterator[QdrantClient]:
    client = QdrantClient(":memory:")
    yield client
    client.close()


@pytest.fixture(scope="session")
def mirrors(chroma_app: Any, read_qdrant: QdrantClient) -> dict[Space, Mirror]:
    """One random mirrored collection per space (built once, read by many cases)."""
    return {
        space: build_mirror(
            chroma_app, read_qdrant, f"rd-{space.value}-{uuid.uuid4().hex[:8]}", space, seed=n + 11
        )
        for n, space in enumerate(Space)
    }
