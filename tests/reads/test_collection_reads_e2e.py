"""Collection-level reads through a running proxy, answered by the new store.

In canary (100%) and in cutover, the app's ``get_collection`` / ``list_collections`` /
``count_collections`` through the proxy equal Chroma's own answers (raw JSON and the
chromadb client's objects), a missing collection raises the same exception, the
answers came from the target (its upstream latency series per route), and the shadow
comparisons of those reads all match.
"""

from __future__ import annotations

import re
import time
import urllib.request
from pathlib import Path
from typing import Any

import chromadb
import httpx
import orjson
import pytest
from collection_support import TENANT, new_database, typed
from harness import ProxyProcess, new_port, proxy_config
from test_collection_reads import BAD_LISTS, LISTS, create_variety

from proxy.upstream.embedded_chroma import EmbeddedChroma

pytestmark = pytest.mark.timeout(300)


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        sample, _, value = line.rpartition(" ")
        if sample.split("{")[0] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', sample))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(value)
    return total


def _admin(proxy: ProxyProcess, path: str, body: Any) -> Any:
    url = f"http://127.0.0.1:{proxy.config['admin']['port']}{path}"
    request = urllib.request.Request(url, data=orjson.dumps(body), method="POST",
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=120) as resp:
        return orjson.loads(resp.read())


def _start(tmp: Path, chroma: EmbeddedChroma, phase: str) -> ProxyProcess:
    config = proxy_config(
        tmp, chroma.url, new_port(), target={"path": ":memory:"},
        migration={"initial_phase": "canary" if phase == "canary" else "shadow"},
        canary={"percent": 100}, shadow={"sample_rate": 1.0}, guard={"enabled": False},
    )  # fmt: skip
    proxy = ProxyProcess(tmp, config).start()
    if phase == "cutover":
        _admin(proxy, "/admin/cutover", {"force": True})  # the shared Chroma has more
        assert proxy.status()["phase"] == "cutover"
    return proxy


def _app_writes(client: Any) -> list[str]:
    made = create_variety(client)
    made["alpha"].add(ids=["a", "b"], embeddings=[[1.0, 2.0, 3.0], [0.0, 1.0, 0.5]])
    made["bravo"].modify(name="bravo-2", metadata={"m": 2})
    made["charlie"].modify(metadata={"tag": "x"})
    client.delete_collection("delta")
    return ["alpha", "bravo-2", "charlie", "echo.1_x-y"]


def _model(collection: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = collection._model.model_dump(mode="json")
    return dumped


@pytest.mark.parametrize("phase", ["canary", "cutover"])
def test_collection_reads_come_from_the_target(
    chroma_server: EmbeddedChroma, tmp_path: Path, phase: str
) -> None:
    with httpx.Client(base_url=chroma_server.url, timeout=30.0) as direct_http:
        database = new_database(direct_http)
        proxy = _start(tmp_path, chroma_server, phase)
        try:
            via = chromadb.HttpClient(host="127.0.0.1", port=proxy.port, database=database)
            direct = chromadb.HttpClient(
                host=chroma_server.host, port=chroma_server.port, database=database
            )
            names = _app_writes(via)
            proxy.wait_caught_up()
            _check(proxy, direct_http, via, direct, database, names)
        finally:
            proxy.kill()


def _check(
    proxy: ProxyProcess, direct_http: httpx.Client, via: Any, direct: Any, database: str,
    names: list[str],
) -> None:  # fmt: skip
    prefix = f"/api/v2/tenants/{TENANT}/databases/{database}"
    gets = [f"/collections/{n}" for n in names]
    endpoints = LISTS + BAD_LISTS + [*gets, "/collections/delta", "/collections/bravo"]
    with httpx.Client(base_url=proxy.url, timeout=30.0) as proxied_http:
        for endpoint in endpoints:
            ours, theirs = proxied_http.get(prefix + endpoint), direct_http.get(prefix + endpoint)
            got = (ours.status_code, orjson.loads(ours.content))
            expected = (theirs.status_code, orjson.loads(theirs.content))
            assert typed(got) == typed(expected), f"{endpoint}: proxy {got} chroma {expected}"
    for name in names:
        assert _model(via.get_collection(name)) == _model(direct.get_collection(name))
    paged = [[_model(c) for c in client.list_collections(limit=2, offset=1)]
             for client in (via, direct)]  # fmt: skip
    assert paged[0] == paged[1] and len(paged[0]) == 2
    assert via.count_collections() == direct.count_collections() == len(names)
    with pytest.raises(chromadb.errors.NotFoundError):
        via.get_collection("delta")
    text = proxy.get_text("/metrics")
    served = {
        route: _metric(text, "vecbridge_upstream_duration_seconds_count", store="target",
                       route=route)
        for route in ("get_collection", "list_collections", "count_collections")
    }  # fmt: skip
    lists = sum(1 for e in LISTS + BAD_LISTS if not e.startswith("/collections_count"))
    assert served["list_collections"] == lists + 1
    assert served["count_collections"] == 1 + 1
    assert served["get_collection"] >= len(gets) + len(names)  # the client's own gets too
    _shadow_all_match(proxy)


def _shadow_all_match(proxy: ProxyProcess) -> None:
    deadline = time.monotonic() + 60
    while True:
        snapshot: dict[str, Any] = proxy.get("/-/shadow")
        if snapshot["queue"]["size"] == 0 and snapshot["compared"] > 0:
            time.sleep(0.5)  # in-flight comparisons land
            snapshot = proxy.get("/-/shadow")
            break
        assert time.monotonic() < deadline, snapshot
        time.sleep(0.1)
    assert set(snapshot["by_category"]) == {"match"}, snapshot["worst"]
