"""Collections of tenants other than the default are migrated too.

Chroma cannot list tenants. Before the proxy runs, two tenants get a collection with
records, straight in Chroma: ``acme`` is opened by an app client through the proxy (its
constructor reads the tenant: the proxy records it), ``beta`` is only named in
``source.tenants``. A backfill started with no collection names then copies both, a
validation passes on both, and the cutover coverage check counts them.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import chromadb
import pytest
from cutover_e2e import HostProcess
from harness import proxy_config

from proxy.upstream.embedded_chroma import EmbeddedChroma, free_port

pytestmark = pytest.mark.timeout(300)


def _admin(port: int) -> Any:
    return chromadb.AdminClient(chromadb.Settings(
        chroma_api_impl="chromadb.api.fastapi.FastAPI", chroma_server_host="127.0.0.1",
        chroma_server_http_port=port))  # fmt: skip


def _seed(chroma_port: int, tenant: str, name: str, count: int) -> None:
    admin = _admin(chroma_port)
    admin.create_tenant(tenant)
    admin.create_database("main", tenant=tenant)
    client = chromadb.HttpClient(host="127.0.0.1", port=chroma_port, tenant=tenant,
                                 database="main")  # fmt: skip
    client.create_collection(name, embedding_function=None).add(
        ids=[f"{name}-{i}" for i in range(count)],
        embeddings=[[float(i), 1.0, 0.5] for i in range(count)],
    )


def test_backfill_finds_seen_and_configured_tenants(fresh_chroma: EmbeddedChroma,
                                                    tmp_path: Path) -> None:  # fmt: skip
    acme, beta = (f"{p}-{uuid.uuid4().hex[:6]}" for p in ("acme", "beta"))
    chroma_port = int(fresh_chroma.url.rsplit(":", 1)[1])
    _seed(chroma_port, acme, "docs", 5)
    _seed(chroma_port, beta, "notes", 3)
    config = proxy_config(tmp_path, fresh_chroma.url, free_port(), guard={"enabled": False},
                          source={"tenants": [beta]})  # fmt: skip
    proxy = HostProcess(tmp_path, config).start()
    try:
        app = chromadb.HttpClient(host="127.0.0.1", port=proxy.port, tenant=acme,
                                  database="main")  # the proxy sees the tenant
        app.get_collection("docs").add(ids=["docs-new"], embeddings=[[9.0, 9.0, 9.0]])
        proxy.ok("POST", "/admin/backfill", {})
        deadline = time.monotonic() + 120
        while (progress := proxy.ok("GET", "/admin/backfill"))["running"]:
            assert time.monotonic() < deadline, progress
            time.sleep(0.1)
        assert progress["passed"], progress
        copied = {item["collection"]: item["copied"] for item in progress["collections"]}
        assert copied == {f"{acme}/main/docs": 6, f"{beta}/main/notes": 3}, copied
        proxy.wait_drained()
        report = proxy.ok("POST", "/admin/validate", {"options": {"full": True}})
        assert report["passed"], report
        assert len(report["collections"]) == 2, report
        assert proxy.ok("POST", "/admin/cutover", {})["to"] == "cutover"  # coverage holds
    finally:
        proxy.stop()
