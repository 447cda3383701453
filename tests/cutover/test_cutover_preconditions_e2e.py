"""Cutover refuses while the new store lacks the old store's data, and once the new store
is primary its answers are current the moment a write is acknowledged.

1. Records written in passthrough never reached the new store: an unforced cutover is
   refused naming the collection and saying to backfill; after the backfill it goes.
2. In cutover and in finalized, a collection created a moment ago answers count, get and
   query from the new store at once (before, a stale catalog cache sent such reads to the
   old store, which after finalize never receives the records: count 0).
"""

from __future__ import annotations

import time
from pathlib import Path

import chromadb
import pytest
from cutover_e2e import HostProcess
from harness import proxy_config

from proxy.upstream.embedded_chroma import EmbeddedChroma, free_port

pytestmark = pytest.mark.timeout(300)
OLD = "old-data"


def _proxy(tmp: Path, chroma: EmbeddedChroma) -> HostProcess:
    config = proxy_config(
        tmp, chroma.url, free_port(), guard={"enabled": False},
        migration={"initial_phase": "passthrough"},
    )  # fmt: skip
    return HostProcess(tmp, config).start()


def _vectors(n: int, seed: int) -> list[list[float]]:
    return [[float(seed), float(i), 1.0, 0.5] for i in range(n)]


def _backfill(proxy: HostProcess) -> None:
    proxy.ok("POST", "/admin/backfill", {"collections": [OLD]})
    while proxy.ok("GET", "/admin/backfill")["running"]:
        time.sleep(0.1)
    assert proxy.ok("GET", "/admin/backfill")["passed"], proxy.ok("GET", "/admin/backfill")


def _fresh_collection_reads_at_once(client: chromadb.HttpClient, name: str) -> None:
    col = client.create_collection(name, embedding_function=None)
    assert col.count() == 0
    assert col.query(query_embeddings=[[0.0, 0.0, 1.0, 0.5]], n_results=2)["ids"] == [[]]
    col.add(ids=["a", "b"], embeddings=_vectors(2, 7), documents=["one", "two"])  # type: ignore[arg-type]
    assert col.count() == 2
    assert sorted(col.get()["ids"]) == ["a", "b"]
    hits = col.query(query_embeddings=[[7.0, 0.0, 1.0, 0.5]], n_results=2)
    assert hits["ids"] == [["a", "b"]] and hits["documents"] == [["one", "two"]]


def test_cutover_needs_the_old_data_and_new_collections_read_at_once(
    fresh_chroma: EmbeddedChroma, tmp_path: Path
) -> None:
    proxy = _proxy(tmp_path, fresh_chroma)
    try:
        client = chromadb.HttpClient(host="127.0.0.1", port=proxy.port)
        old = client.create_collection(OLD, embedding_function=None)
        old.add(ids=[f"o{i}" for i in range(50)], embeddings=_vectors(50, 1))  # type: ignore[arg-type]
        proxy.ok("POST", "/admin/phase", {"phase": "mirror"})
        old.add(ids=["m1"], embeddings=_vectors(1, 2))  # type: ignore[arg-type]  # mirrored
        proxy.wait_drained()

        status, answer = proxy.admin("POST", "/admin/cutover", {})
        assert status == 409, answer
        assert OLD in answer["error"] and "backfill" in answer["error"], answer
        assert proxy.status()["phase"] == "mirror"

        _backfill(proxy)
        proxy.wait_drained()
        assert proxy.ok("POST", "/admin/cutover", {})["to"] == "cutover"
        assert old.count() == 51  # answered by the new store, backfilled
        _fresh_collection_reads_at_once(client, "made-in-cutover")

        proxy.wait_drained()
        proxy.ok("POST", "/admin/finalize")
        _fresh_collection_reads_at_once(client, "made-in-finalized")
        assert old.count() == 51
    finally:
        proxy.stop()
