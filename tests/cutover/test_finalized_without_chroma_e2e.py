"""After finalize Chroma can be switched off: the app's client keeps working through the proxy.

A proxy (child process) over a real Chroma goes mirror -> cutover -> finalize, with a
collection in the default database and one in a database the app made. Then Chroma is
stopped for good. A new chromadb client still constructs (identity, tenant, database,
heartbeat, version, pre-flight), reads and writes records, creates / lists / deletes
databases and collections, gets a collection by id; refusals are those Chroma gave to
the same requests while it ran; the proxy reports ready; and all of it survives a
restart of the proxy (what it knows of Chroma is in the state file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import chromadb
import pytest
from chromadb.errors import NotFoundError
from cutover_e2e import HostProcess
from harness import json_call, proxy_config

from proxy.upstream.embedded_chroma import EmbeddedChroma, free_port

pytestmark = pytest.mark.timeout(300)
DATABASES = "/api/v2/tenants/default_tenant/databases"
SCOPE = DATABASES + "/default_database"
VECTORS = {f"v{i}": [float(i % 3), float(i % 5) - 2.0, 1.0 + i / 10] for i in range(12)}
MISSING_UUID = "6f1c1a0e-4d3b-4c1e-9a57-2b9f0c3d4e5f"
# Requests whose answers must be Chroma's own: (method, path, body).
REFUSALS: list[tuple[str, str, bytes | None]] = [
    ("POST", DATABASES, b'{"name": "default_database"}'),
    ("POST", DATABASES, b'{"name": "d1"}'),
    ("POST", DATABASES, b"{}"),
    ("POST", DATABASES, b"{nope"),
    ("POST", "/api/v2/tenants", b'{"name": "default_tenant"}'),
    ("POST", "/api/v2/tenants", b'{"name": 5}'),
    ("GET", "/api/v2/tenants/no-such-tenant", None),
    ("GET", DATABASES + "/no-such-db", None),
    ("GET", DATABASES + "/zz", None),
    ("DELETE", DATABASES + "/no-such-db", None),
    ("GET", DATABASES + "?limit=x", None),
    ("GET", SCOPE + "/collections/by-id/not-a-uuid", None),
    ("GET", SCOPE + f"/collections/by-id/{MISSING_UUID}", None),
]


def _call(base: str, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    return json_call(base + path, method, body)


def _client(port: int, database: str = "default_database") -> Any:
    return chromadb.HttpClient(host="127.0.0.1", port=port, database=database)


def _admin(port: int) -> Any:
    return chromadb.AdminClient(chromadb.Settings(
        chroma_api_impl="chromadb.api.fastapi.FastAPI", chroma_server_host="127.0.0.1",
        chroma_server_http_port=port))  # fmt: skip


def _before_finalize(proxy: HostProcess) -> dict[str, Any]:
    """The app's data, made through the proxy while Chroma is the primary."""
    app = _client(proxy.port)
    kept = app.create_collection("kept", embedding_function=None)
    kept.add(ids=list(VECTORS), embeddings=list(VECTORS.values()),
             metadatas=[{"i": i} for i in range(len(VECTORS))])  # fmt: skip
    _admin(proxy.port).create_database("db-app")
    elsewhere = _client(proxy.port, "db-app").create_collection("in-db-app",
                                                                embedding_function=None)
    elsewhere.add(ids=["a", "b"], embeddings=[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    proxy.wait_drained()
    assert proxy.ok("POST", "/admin/cutover", {})["to"] == "cutover"
    proxy.wait_drained()
    proxy.ok("POST", "/admin/finalize")
    assert proxy.status()["phase"] == "finalized"
    return {"kept_id": str(kept.id), "version": app.get_version()}


def _works_without_chroma(proxy: HostProcess, seen: dict[str, Any]) -> None:
    assert _call(proxy.url, "GET", "/-/ready") == (200, {"ready": True})
    app = _client(proxy.port)  # identity, tenant and database: answered by the proxy
    assert app.heartbeat() > 0
    assert app.get_version() == seen["version"]
    kept = app.get_collection("kept", embedding_function=None)
    assert str(kept.id) == seen["kept_id"] and kept.count() == len(VECTORS)
    assert kept.query(query_embeddings=[VECTORS["v4"]], n_results=1)["ids"] == [["v4"]]
    kept.add(ids=["new"], embeddings=[[9.0, 9.0, 9.0]])  # pre-flight checks, then a write
    assert kept.get(ids=["new"])["ids"] == ["new"] and kept.count() == len(VECTORS) + 1
    by_id = _call(proxy.url, "GET", f"{SCOPE}/collections/by-id/{seen['kept_id']}")
    assert by_id == _call(proxy.url, "GET", f"{SCOPE}/collections/kept")
    assert by_id[0] == 200
    assert _client(proxy.port, "db-app").get_collection("in-db-app").count() == 2


def _databases_without_chroma(proxy: HostProcess) -> None:
    admin = _admin(proxy.port)
    admin.create_database("db-new")
    made = admin.get_database("db-new")
    assert made["name"] == "db-new" and made["tenant"] == "default_tenant"
    names = [d["name"] for d in admin.list_databases()]
    assert names == ["db-app", "db-new", "default_database"]  # Chroma lists by name
    assert [d["name"] for d in admin.list_databases(limit=1, offset=1)] == ["db-new"]
    fresh = _client(proxy.port, "db-new").create_collection("fresh", embedding_function=None)
    fresh.add(ids=["x"], embeddings=[[1.0, 2.0]])
    assert fresh.count() == 1
    admin.delete_database("db-app")
    with pytest.raises(NotFoundError):
        admin.get_database("db-app")
    with pytest.raises(NotFoundError, match=r"Database \[db-app\] not found"):
        _client(proxy.port, "db-app")
    assert [d["name"] for d in admin.list_databases()] == ["db-new", "default_database"]
    admin.create_tenant("tenant-new")
    assert admin.get_tenant("tenant-new")["name"] == "tenant-new"


def test_chroma_switched_off_after_finalize(fresh_chroma: EmbeddedChroma,
                                            tmp_path: Path) -> None:  # fmt: skip
    config = proxy_config(tmp_path, fresh_chroma.url, free_port(), guard={"enabled": False})
    proxy = HostProcess(tmp_path, config).start()
    try:
        seen = _before_finalize(proxy)
        chroma_answers = [_call(fresh_chroma.url, *case) for case in REFUSALS]
        assert all(status >= 400 for status, _ in chroma_answers), chroma_answers
        fresh_chroma.stop()  # for good
        _works_without_chroma(proxy, seen)
        ours = [_call(proxy.url, *case) for case in REFUSALS]
        for case, mine, theirs in zip(REFUSALS, ours, chroma_answers, strict=True):
            assert mine == theirs, case
        _databases_without_chroma(proxy)
        proxy.stop()
        proxy.start()  # what the proxy knows of Chroma survives a restart
        app = _client(proxy.port, "db-new")
        assert app.get_collection("fresh").count() == 1
        assert _client(proxy.port).get_collection("kept").count() == len(VECTORS) + 1
        assert _admin(proxy.port).get_tenant("tenant-new")["name"] == "tenant-new"
    finally:
        proxy.stop()
