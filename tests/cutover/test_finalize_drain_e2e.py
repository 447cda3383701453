"""Finalize leaves the old store complete: refused while cutover writes have not reached it.

Cutover, then Chroma goes down and the app writes on (Qdrant is primary; the writes are
journaled for Chroma); a new app client still starts. ``finalize`` is refused at once
with the reason, and the phase stays cutover. ``finalize --force`` goes ahead; the
journaled writes still reach Chroma once it is back, so the snapshot it keeps is
complete after all.
"""

from __future__ import annotations

from pathlib import Path

import chromadb
import pytest
from cutover_e2e import HostProcess
from harness import chroma_rows, proxy_config

from proxy.upstream.embedded_chroma import EmbeddedChroma, free_port

pytestmark = pytest.mark.timeout(300)


def test_finalize_refused_until_the_old_store_has_the_cutover_writes(
    fresh_chroma: EmbeddedChroma, tmp_path: Path
) -> None:
    config = proxy_config(tmp_path, fresh_chroma.url, free_port(), guard={"enabled": False})
    proxy = HostProcess(tmp_path, config).start()
    try:
        app = chromadb.HttpClient(host="127.0.0.1", port=proxy.port)
        docs = app.create_collection("docs", embedding_function=None)
        docs.add(ids=["a"], embeddings=[[1.0, 0.0]])
        proxy.wait_drained()
        assert proxy.ok("POST", "/admin/cutover", {})["to"] == "cutover"
        fresh_chroma.stop()
        docs.add(ids=["b"], embeddings=[[0.0, 1.0]])  # Qdrant answers; Chroma owes it
        assert proxy.status()["cutover"]["reverse"]["lag_entries"] >= 1
        # A new app client starts and reads while Chroma is down (the proxy answers the
        # identity, tenant and database calls from what it recorded).
        late = chromadb.HttpClient(host="127.0.0.1", port=proxy.port)
        assert late.get_collection("docs", embedding_function=None).count() == 2

        status, answer = proxy.admin("POST", "/admin/finalize", {})
        assert status == 409 and "unreachable" in answer["error"], answer
        assert proxy.status()["phase"] == "cutover"

        forced = proxy.ok("POST", "/admin/finalize", {"force": True})
        assert forced == {"from": "cutover", "to": "finalized", "forced": True}
        assert docs.count() == 2  # the app goes on, answered by Qdrant

        fresh_chroma.start()  # back: the journaled write still reaches it
        proxy.wait_drained()
        assert sorted(chroma_rows(fresh_chroma.url, "docs")) == ["a", "b"]
    finally:
        proxy.stop()
