"""Issue 3: every shadow mismatch lands in the JSONL log, with ids and no user data.

A real proxy in phase ``shadow`` at sample rate 1.0. Three records are added to Chroma
directly, bypassing the proxy, so the new store never gets them: reads through the proxy
that find them in Chroma (the primary) must be logged as ``missing_ids`` naming them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from harness import ProxyProcess
from shadow_support import client_of, load, start

from proxy.upstream.embedded_chroma import EmbeddedChroma

GHOSTS = [f"ghost-{i}" for i in range(3)]
SECRET = "confidential-ghost-document"


def _log_lines(path: Path, want: int, proxy: ProxyProcess) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 60
    while True:
        lines = []
        if path.exists():
            lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
        if len(lines) >= want:
            return lines
        assert time.monotonic() < deadline, (lines, proxy.get("/-/shadow"))
        time.sleep(0.2)


def test_reads_missing_on_the_new_store_are_logged_by_id(
    tmp_path: Path, chroma_server: EmbeddedChroma, unique_name: str
) -> None:
    log_path = tmp_path / "logs" / "mismatches.jsonl"
    proxy = start(
        tmp_path, chroma_server.url, "shadow",
        shadow={"sample_rate": 1.0, "mismatch_log": str(log_path)},
    )  # fmt: skip
    try:
        rng = np.random.default_rng(5)
        via_proxy = load(proxy, unique_name, rng.normal(size=(200, 8)).astype(np.float32))
        ghosts = (rng.normal(size=(3, 8)) * 50).astype(np.float32)  # far from everything else
        direct = client_of(chroma_server.url).get_collection(unique_name)
        direct.add(ids=GHOSTS, embeddings=ghosts.tolist(), documents=[SECRET] * 3,
                   metadatas=[{"owner": SECRET}] * 3)  # fmt: skip
        everything = ["documents", "metadatas", "distances", "embeddings"]
        for vector in ghosts:
            via_proxy.query(query_embeddings=[vector.tolist()], n_results=5, include=everything)
        via_proxy.get(ids=["r-1", GHOSTS[0]])
        lines = _log_lines(log_path, 4, proxy)
    finally:
        proxy.kill()
    queries = [line for line in lines if line["route"] == "query"]
    assert len(queries) == 3
    for line, ghost in zip(queries, GHOSTS, strict=True):
        assert line["category"] == "missing_ids", line
        assert ghost in line["missing_ids"], line
        assert line["collection"] == unique_name and line["k"] == 5
        assert line["recall"] is not None and line["recall"] < 1.0
        assert line["primary"] == "source" and line["secondary"] == "target"
        assert line["primary_seconds"] >= 0 and line["secondary_seconds"] >= 0
    got = next(line for line in lines if line["route"] == "get")
    assert got["category"] == "missing_ids" and got["missing_ids"] == [GHOSTS[0]]
    text = log_path.read_text()
    assert SECRET not in text and "doc 1" not in text  # ids only: no documents/metadata
    assert "embedding" not in text and "query_embeddings" not in text
