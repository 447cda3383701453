"""After finalize, collection-level writes are answered by the new store; Chroma is left alone.

A proxy (child process) over a real Chroma goes mirror -> cutover -> finalize; the app is
the unmodified chromadb client. In cutover a create still reaches Chroma (it assigns the
UUID a rollback needs). After finalize, create / get_or_create / modify / delete
collection work for the client as before, records in the new collections are written
and read back, Chroma's own collections (read directly) do not change at all, refusals
are Chroma's own (compared with the same request sent to Chroma), and Qdrant, read with
qdrant-client once the proxy is stopped, holds the collections and their records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import chromadb
import numpy as np
import pytest
from chromadb.errors import NotFoundError
from cutover_e2e import HostProcess
from harness import json_call, proxy_config, qdrant_rows
from qdrant_client import QdrantClient

from adapters.qdrant_layout import CATALOG_COLLECTION, spec_from_catalog
from proxy.upstream.embedded_chroma import EmbeddedChroma, free_port

pytestmark = pytest.mark.timeout(300)
SCOPE = "/api/v2/tenants/default_tenant/databases/default_database"
META_A = {"team": "a", "n": 1, "ratio": 0.5, "on": True, "hnsw:space": "cosine"}
CONFIG_A: Any = {"hnsw": {"space": "cosine", "ef_search": 40, "max_neighbors": 24}}
VECTORS = {f"v{i}": [float(i % 3), float(i % 5) - 2.0, 1.0 + i / 10] for i in range(12)}


def _raw(base: str, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    return json_call(base + path, method, body)


def _chroma_state(client: Any) -> dict[str, Any]:
    """Every collection Chroma holds: id, metadata, configuration and record count."""
    return {c.name: (str(c.id), c.metadata, c.configuration_json, c.count())
            for c in client.list_collections()}  # fmt: skip


def _to_finalized(proxy: HostProcess, app: Any, chroma: Any) -> Any:
    before = app.create_collection("before", embedding_function=None,
                                   metadata={"hnsw:space": "cosine", "team": "old"})
    before.add(ids=list(VECTORS), embeddings=list(VECTORS.values()))
    proxy.wait_drained()
    assert proxy.ok("POST", "/admin/cutover", {})["to"] == "cutover"
    app.create_collection("in-cutover", embedding_function=None)
    assert "in-cutover" in _chroma_state(chroma)  # cutover: Chroma still assigns the UUID
    proxy.wait_drained()
    proxy.ok("POST", "/admin/finalize")
    assert proxy.status()["phase"] == "finalized"
    return before


def _same_refusals(proxy: HostProcess, chroma_url: str, app: Any, chroma: Any) -> None:
    cases = [("POST", "/collections", b'{"name": "x"}'),
             ("POST", "/collections", b'{"name": "before"}'),  # exists on both sides
             ("POST", "/collections", b'{"metadata": null}'),
             ("POST", "/collections", b"{nope"),
             ("POST", "/collections", b'{"name": "okname", "metadata": {}}'),
             ("PUT", "/collections/6f1c1a0e-4d3b-4c1e-9a57-2b9f0c3d4e5f", b'{"new_name": "abc"}'),
             ("PUT", "/collections/not-a-uuid", b"{}"),
             ("DELETE", "/collections/no-such-collection", None)]  # fmt: skip
    for method, path, body in cases:
        theirs = _raw(chroma_url, method, SCOPE + path, body)
        assert _raw(proxy.url, method, SCOPE + path, body) == theirs, (method, path, body)
        assert theirs[0] >= 400
    for name in ("x", "before"):  # the client raises the same exception either way
        with pytest.raises(Exception) as through_proxy:
            app.create_collection(name, embedding_function=None)
        with pytest.raises(Exception) as direct:
            chroma.create_collection(name, embedding_function=None)
        assert type(through_proxy.value) is type(direct.value)
        assert str(through_proxy.value) == str(direct.value)


def _records_work(collection: Any) -> None:
    collection.add(ids=list(VECTORS), embeddings=list(VECTORS.values()),
                   metadatas=[{"i": i} for i in range(len(VECTORS))],
                   documents=[f"doc {k}" for k in VECTORS])  # fmt: skip
    assert collection.count() == len(VECTORS)
    got = collection.get(ids=["v3", "v1"], include=["embeddings", "metadatas", "documents"])
    assert got["ids"] == ["v1", "v3"] and got["documents"] == ["doc v1", "doc v3"]
    assert np.allclose(got["embeddings"][1], VECTORS["v3"])
    query = np.asarray([1.0, -1.0, 1.2])
    hits = collection.query(query_embeddings=[query.tolist()], n_results=3,
                            include=["distances"])  # fmt: skip
    matrix = np.asarray(list(VECTORS.values()))
    cosine = 1 - matrix @ query / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(query))
    assert hits["ids"][0] == [list(VECTORS)[i] for i in np.argsort(cosine, kind="stable")[:3]]
    assert np.allclose(hits["distances"][0], np.sort(cosine)[:3], atol=1e-5)


def _databases_kept_by_the_proxy(proxy: HostProcess, chroma_url: str) -> None:
    """Database writes no longer reach Chroma (the proxy keeps tenants and databases); a
    collection in a new database is the new store's; deleting the database drops it."""
    databases = "/api/v2/tenants/default_tenant/databases"
    assert _raw(proxy.url, "POST", databases, b'{"name": "db2"}')[0] == 200
    assert _raw(chroma_url, "GET", databases + "/db2")[0] == 404
    assert _raw(proxy.url, "GET", databases + "/db2")[1]["name"] == "db2"
    made = _raw(proxy.url, "POST", databases + "/db2/collections", b'{"name": "in-db2"}')
    assert made[0] == 200 and made[1]["database"] == "db2"
    assert _raw(chroma_url, "GET", databases + "/db2/collections") == (200, [])
    assert _raw(proxy.url, "GET", databases + "/db2/collections/in-db2") == made
    missing = (databases + "/nodb/collections", b'{"name": "okname"}')
    assert _raw(proxy.url, "POST", *missing) == _raw(chroma_url, "POST", *missing)
    assert _raw(proxy.url, "DELETE", databases + "/db2")[0] == 200
    assert _raw(proxy.url, "GET", databases + "/db2")[0] == 404
    assert _raw(proxy.url, "GET", databases + "/db2/collections/in-db2")[0] == 404


def _old_handle_after_recreate(app: Any) -> None:
    """A name dropped and created again is a new collection: the old handle gets Chroma's
    404, never the new collection's records (the reader's cached spec of it is gone)."""
    first = app.create_collection("again", embedding_function=None)
    first.add(ids=["x1"], embeddings=[[1.0, 2.0, 3.0]])
    assert first.count() == 1
    app.delete_collection("again")
    second = app.create_collection("again", embedding_function=None)
    second.add(ids=["y1", "y2"], embeddings=[[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    with pytest.raises(NotFoundError, match=str(first.id)):  # read before anything else
        first.count()
    assert second.id != first.id and second.count() == 2
    app.delete_collection("again")


def test_collection_writes_after_finalize(fresh_chroma: EmbeddedChroma, tmp_path: Path) -> None:
    config = proxy_config(tmp_path, fresh_chroma.url, free_port(), guard={"enabled": False})
    proxy = HostProcess(tmp_path, config).start()
    chroma = chromadb.HttpClient(host="127.0.0.1", port=int(fresh_chroma.url.rsplit(":", 1)[1]))
    app = chromadb.HttpClient(host="127.0.0.1", port=proxy.port)
    try:
        before = _to_finalized(proxy, app, chroma)
        twin = chroma.create_collection("twin-a", embedding_function=None, metadata=META_A,
                                        configuration=CONFIG_A)  # what Chroma would answer
        untouched = _chroma_state(chroma)

        a = app.create_collection("fin-a", embedding_function=None, metadata=META_A,
                                  configuration=CONFIG_A)  # fmt: skip
        ours = _raw(proxy.url, "GET", f"{SCOPE}/collections/fin-a")[1]
        theirs = _raw(fresh_chroma.url, "GET", f"{SCOPE}/collections/twin-a")[1]
        assert {**ours, "id": 0, "name": 0} == {**theirs, "id": 0, "name": 0}
        assert ours["id"] == str(a.id) != str(twin.id)
        _records_work(a)

        b = app.get_or_create_collection("fin-b", embedding_function=None,
                                         configuration={"hnsw": {"space": "ip"}})
        again = app.get_or_create_collection("fin-b", embedding_function=None,
                                             metadata={"other": 1})
        assert again.id == b.id and again.metadata is None  # as Chroma: the existing one
        assert again.configuration_json["hnsw"]["space"] == "ip"
        _same_refusals(proxy, fresh_chroma.url, app, chroma)

        a.modify(name="fin-a2", metadata={"team": "b"})
        a.modify(configuration={"hnsw": {"ef_search": 64}})
        renamed = app.get_collection("fin-a2", embedding_function=None)
        assert renamed.id == a.id and renamed.metadata == {"team": "b"}
        assert renamed.configuration_json["hnsw"]["ef_search"] == 64
        assert renamed.count() == len(VECTORS)
        assert renamed.query(query_embeddings=[VECTORS["v4"]], n_results=1)["ids"] == [["v4"]]
        with pytest.raises(NotFoundError):
            app.get_collection("fin-a")
        before.modify(name="before2")  # a collection Chroma holds too: Chroma keeps its name
        assert app.get_collection("before2").count() == len(VECTORS)
        _old_handle_after_recreate(app)
        _databases_kept_by_the_proxy(proxy, fresh_chroma.url)
        app.delete_collection("fin-b")
        app.delete_collection("in-cutover")
        for gone in ("fin-b", "in-cutover", "before"):
            with pytest.raises(NotFoundError):
                app.get_collection(gone)
        assert sorted(c.name for c in app.list_collections()) == ["before2", "fin-a2"]
        assert app.count_collections() == 2
        assert _chroma_state(chroma) == untouched  # nothing of the above reached Chroma
    finally:
        proxy.stop()
    _target_holds(tmp_path / "qdrant", str(a.id))


def _target_holds(path: Path, a_id: str) -> None:
    """The new store, read with qdrant-client (the proxy has released its lock)."""
    client = QdrantClient(path=str(path))
    try:
        points, _ = client.scroll(CATALOG_COLLECTION, limit=100)
    finally:
        client.close()
    specs = {s.key.name: s for s in (spec_from_catalog(p.payload or {}) for p in points)}
    assert sorted(specs) == ["before2", "fin-a2"]
    spec = specs["fin-a2"]
    assert spec.source_id == a_id and spec.metadata == {"team": "b"}
    assert spec.space.value == "cosine" and spec.dimension == 3
    assert spec.configuration is not None and spec.configuration["hnsw"]["ef_search"] == 64
    rows = qdrant_rows(path, "fin-a2")
    assert sorted(rows) == sorted(VECTORS)
    assert all(np.allclose(rows[k].embedding, v) for k, v in VECTORS.items())
    assert rows["v5"].metadata == {"i": 5} and rows["v5"].document == "doc v5"
    assert sorted(qdrant_rows(path, "before2")) == sorted(VECTORS)
