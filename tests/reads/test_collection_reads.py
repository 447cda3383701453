"""Collection-level reads (get / list / count of collections) answered by the target
equal a real Chroma's answers: after creates with metadata and configuration, record
writes (dimension), renames, metadata and configuration changes, deletes, and after a
backfill; plus Chroma's wire facts the rendering relies on."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import chromadb
import httpx
import pytest
from collection_support import TENANT, Pipeline, Scoped, new_database

from adapters.base import CollectionKey, CollectionSpec
from adapters.chroma import ChromaStore
from adapters.qdrant import QdrantStore
from proxy.dialects.chroma.read_translation import NotServable, TargetReader
from proxy.dialects.chroma.routes import classify
from proxy.journal.journal import Journal
from proxy.migration.backfill import BackfillOptions, run_backfill
from proxy.upstream.embedded_chroma import EmbeddedChroma

LISTS = [
    "/collections", "/collections?limit=2", "/collections?offset=1",
    "/collections?limit=2&offset=1", "/collections?offset=10", "/collections?limit=0",
    "/collections?limit=1&foo=bar", "/collections?limit=%2B3", "/collections_count",
]  # fmt: skip
BAD_LISTS = [
    "/collections?limit=-1", "/collections?limit=x&offset=y", "/collections?offset=z&limit=x",
    "/collections?limit=1&limit=2", "/collections?limit=", "/collections?offset",
    "/collections?limit=5000000000", "/collections?limit=+1", "/collections?limit=1.0",
]  # fmt: skip


@pytest.fixture
def http(chroma_server: EmbeddedChroma) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=chroma_server.url, timeout=30.0) as client:
        yield client


@pytest.fixture
async def store() -> AsyncIterator[QdrantStore]:
    opened = QdrantStore.open(path=":memory:")
    yield opened
    await opened.close()


def app_client(server: EmbeddedChroma, database: str) -> Any:
    return chromadb.HttpClient(host=server.host, port=server.port, database=database)


async def assert_all_same(scoped: Scoped, names: list[str]) -> None:
    for endpoint in LISTS + BAD_LISTS:
        await scoped.assert_same(endpoint)
    for name in [*names, "not-there"]:
        await scoped.assert_same(f"/collections/{name}")


def create_variety(client: Any) -> dict[str, Any]:
    """Collections with every kind of metadata and configuration the app may give."""
    return {
        "alpha": client.create_collection("alpha"),
        "bravo": client.create_collection(
            "bravo", metadata={"k": "v", "n": 1, "f": 1.5, "b": True, "z": 0.1}
        ),
        "charlie": client.create_collection(
            "charlie", configuration={"hnsw": {"space": "cosine", "ef_search": 50}}
        ),
        "delta": client.create_collection("delta", metadata={"hnsw:space": "ip"}),
        "echo.1_x-y": client.create_collection(
            "echo.1_x-y", configuration={"hnsw": {"max_neighbors": 8, "ef_construction": 64}}
        ),
    }


def test_chroma_wire_facts(chroma_server: EmbeddedChroma, http: httpx.Client) -> None:
    """What the rendering relies on (fails if a Chroma upgrade changes it)."""
    database = new_database(http)
    client = app_client(chroma_server, database)
    made = create_variety(client)
    scoped = Scoped(http, TargetReader(None), database)
    status, listed = scoped.chroma("/collections")
    assert status == 200 and [c["id"] for c in listed] == sorted(str(c.id) for c in made.values())
    keys = ["id", "name", "configuration_json", "schema", "metadata", "dimension",
            "tenant", "database", "log_position", "version"]  # fmt: skip
    assert all(list(c) == keys for c in listed)
    assert {(c["log_position"], c["version"], c["dimension"]) for c in listed} == {(0, 0, None)}
    assert scoped.chroma("/collections?limit=2&offset=1")[1] == listed[1:3]
    assert scoped.chroma("/collections_count") == (200, 5)
    made["alpha"].add(ids=["a"], embeddings=[[1.0, 2.0, 3.0]])
    assert scoped.chroma("/collections/alpha")[1]["dimension"] == 3
    missing = {"error": "NotFoundError", "message": "Collection [nope] does not exist"}
    assert scoped.chroma("/collections/nope") == (404, missing)
    other = Scoped(http, TargetReader(None), "no-such-database")
    assert other.chroma("/collections") == (200, [])
    assert other.chroma("/collections_count") == (200, 0)
    with pytest.raises(chromadb.errors.NotFoundError):
        client.get_collection("nope")
    bad = scoped.chroma("/collections?limit=x")
    assert bad[0] == 400 and bad[1]["error"] == "InvalidArgumentError"


async def test_dual_written_collections_read_the_same(
    chroma_server: EmbeddedChroma, http: httpx.Client, store: QdrantStore
) -> None:
    database = new_database(http)
    client = app_client(chroma_server, database)
    pipeline = Pipeline(chroma_server.url, store, database)
    scoped = Scoped(http, TargetReader(store), database)
    try:
        made = create_variety(client)
        for name in made:
            await pipeline.collection(name)
        names = list(made)
        await assert_all_same(scoped, names)

        made["alpha"].add(ids=["a", "b"], embeddings=[[1.0, 2.0, 3.0], [0.0, 1.0, 0.5]])
        await pipeline.records(str(made["alpha"].id), ["a", "b"])
        assert (await scoped.assert_same("/collections/alpha"))["dimension"] == 3

        made["bravo"].modify(name="bravo-2", metadata={"m": 2, "f": 2.5})
        await pipeline.modified(str(made["bravo"].id), "bravo")
        made["charlie"].modify(metadata={"tag": "x"})
        await pipeline.modified(str(made["charlie"].id), "charlie")
        made["alpha"].modify(configuration={"hnsw": {"ef_search": 77}})
        await pipeline.modified(str(made["alpha"].id), "alpha")
        names[1] = "bravo-2"
        await assert_all_same(scoped, [*names, "bravo"])
        assert (await scoped.assert_same("/collections/alpha"))["dimension"] == 3

        client.delete_collection("delta")
        await pipeline.collection("delta")
        names.remove("delta")
        await assert_all_same(scoped, [*names, "delta"])
        assert await scoped.assert_same("/collections_count") == 4
    finally:
        await pipeline.close()


async def test_backfilled_collections_read_the_same(
    chroma_server: EmbeddedChroma, http: httpx.Client, store: QdrantStore, tmp_path: Path
) -> None:
    database = new_database(http)
    client = app_client(chroma_server, database)
    made = create_variety(client)
    made["charlie"].add(ids=["x", "y"], embeddings=[[1.0, 0.0], [0.0, 1.0]], documents=["d", "e"])
    made["bravo"].modify(name="bravo-2")
    names = [n if n != "bravo" else "bravo-2" for n in made]
    # An entry an older version wrote: no Chroma object, so no collection-level answer yet.
    old = CollectionSpec(CollectionKey("alpha", TENANT, database), source_id=str(made["alpha"].id))
    await store.create_collection(old)
    reader = TargetReader(store)
    scoped = Scoped(http, reader, database)
    with pytest.raises(NotServable):
        await scoped.target("/collections/alpha")
    source = ChromaStore(chroma_server.url, scopes=[(TENANT, database)])
    journal = await Journal(tmp_path / "journal.sqlite").open()
    try:
        specs = await source.list_collections()
        await run_backfill(source, store, journal, specs, BackfillOptions(batch_size=50))
        await assert_all_same(scoped, names)
        assert (await scoped.assert_same("/collections/charlie"))["dimension"] == 2
    finally:
        await source.close()
        await journal.close()


def test_routes_and_sticky_keys() -> None:
    prefix = "/api/v2/tenants/t/databases/d"
    expected = {
        "/collections": ("list_collections", ""),
        "/collections_count": ("count_collections", ""),
        "/collections/books": ("get_collection", "books"),
        "/collections/by-id/3f1c": ("get_collection_by_id", "3f1c"),
        "/collections/by-id/3f1c/x": ("collection_read", ""),
        "/collections/": ("collection_read", ""),
        "/collections/9b2e/count": ("count", "9b2e"),
    }
    for path, (name, collection) in expected.items():
        route = classify("GET", prefix + path)
        assert (route.name, route.collection) == (name, collection), path
    service = {  # the proxy answers these itself after finalize (finalized_service.py)
        ("GET", "/api/v2"): "root",
        ("GET", "/api/v2/heartbeat"): "heartbeat",
        ("GET", "/api/v2/auth/identity"): "identity",
        ("POST", "/api/v2/tenants"): "create_tenant",
        ("GET", "/api/v2/tenants/t"): "get_tenant",
        ("GET", "/api/v2/tenants/t/databases"): "list_databases",
        ("POST", "/api/v2/tenants/t/databases"): "create_database",
        ("GET", prefix): "get_database",
        ("DELETE", prefix): "delete_database",
        ("GET", "/api/v2/tenants"): "other",
        ("POST", "/api/v2/reset"): "other",
    }
    for (method, path), name in service.items():
        assert classify(method, path).name == name, (method, path)
    # Collection-level reads are sticky per database scope; record reads per collection.
    assert classify("GET", prefix + "/collections/books").sticky_key == "db:t/d"
    assert classify("GET", prefix + "/collections").sticky_key == "db:t/d"
    assert classify("GET", prefix + "/collections/9b2e/count").sticky_key == "9b2e"
