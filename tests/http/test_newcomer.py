"""README command 1, as a newcomer runs it: `vecbridge serve --config config.yaml`.

The shipped config starts its own Chroma and a local-mode Qdrant. Ports are moved with
the documented environment overrides so the test can run next to anything else.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
import orjson
import pytest
from harness import REPO, assert_same_rows, chroma_rows, new_port, qdrant_rows


@dataclass
class Served:
    app_port: int
    chroma_port: int
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(60)


@pytest.fixture
def embedded_default(tmp_path: Path) -> Iterator[Served]:
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    app_port, chroma_port = new_port(), new_port()
    env = {
        **os.environ,
        "VECBRIDGE_LISTEN__PORT": str(app_port),
        "VECBRIDGE_SOURCE__EMBEDDED__PORT": str(chroma_port),
        "VECBRIDGE_ADMIN__PORT": str(new_port()),
    }
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        ["vecbridge", "serve", "--config", "config.yaml"],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{app_port}/-/ready", timeout=2)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp_path / "serve.log").read_text()[-3000:]) from None
            time.sleep(0.2)
    served = Served(app_port, chroma_port, process)
    yield served
    served.stop()
    log.close()


def _dump(value: Any) -> bytes:
    # Chroma returns metadata keys in no fixed order, even from one call to the next.
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_SORT_KEYS)


def _same(a: Any, b: Any) -> None:
    """Answers are identical: same keys, ids, documents, metadata; floats exactly equal."""
    assert a == b if not isinstance(a, dict) else _dump(a) == _dump(b), (a, b)


def test_newcomer_flow_matches_direct_chroma(embedded_default: Served, tmp_path: Path) -> None:
    app_port, chroma_port = embedded_default.app_port, embedded_default.chroma_port
    proxied = chromadb.HttpClient(host="localhost", port=app_port)
    direct = chromadb.HttpClient(host="127.0.0.1", port=chroma_port)
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(1000, 64)).astype(np.float32)
    collection = proxied.create_collection("newcomer", metadata={"hnsw:space": "cosine"})
    ids = [f"doc-{i}" for i in range(1000)]
    for start in range(0, 1000, 250):
        collection.add(
            ids=ids[start : start + 250],
            embeddings=vectors[start : start + 250],
            metadatas=[{"n": i, "even": i % 2 == 0, "tag": f"t{i % 7}"}
                       for i in range(start, start + 250)],
            documents=[f"document number {i}" for i in range(start, start + 250)],
        )  # fmt: skip
    mirror = direct.get_collection("newcomer")

    def both(call: str, **kwargs: Any) -> None:
        # Chroma's own answer to a query can change while its HNSW index is rebuilt in the
        # background after a write: ask both sides again (at most twice) before judging.
        for _ in range(3):
            via_proxy = getattr(collection, call)(**kwargs)
            from_source = getattr(mirror, call)(**kwargs)
            if _dump(via_proxy) == _dump(from_source):
                return
            time.sleep(0.5)
        _same(via_proxy, from_source)

    both("count")
    both("query", query_embeddings=vectors[:5], n_results=10)
    both("query", query_embeddings=vectors[5:6], n_results=5, where={"even": True},
         include=["distances", "embeddings", "metadatas"])  # fmt: skip
    both("get", ids=ids[:20], include=["embeddings", "metadatas", "documents"])
    both("get", where={"tag": "t3"}, limit=15, offset=5)
    both("get", where_document={"$contains": "number 99"})
    listed = [[(c.name, str(c.id), c.metadata) for c in client.list_collections()]
              for client in (proxied, direct)]  # fmt: skip
    assert listed[0] == listed[1]

    collection.update(ids=ids[:100], metadatas=[{"tag": "updated", "n": None}] * 100)
    both("get", ids=ids[:100])
    collection.delete(ids=ids[100:200])
    collection.delete(where={"tag": "t1"})
    both("count")
    both("get", include=["metadatas", "documents"], limit=1000)
    both("query", query_embeddings=vectors[300:303], n_results=7)

    status = orjson.loads(
        urllib.request.urlopen(f"http://127.0.0.1:{app_port}/-/status", timeout=5).read()
    )
    assert status["phase"] == "mirror"
    assert status["source"]["healthy"] and status["target"]["healthy"]
    deadline = time.monotonic() + 120
    while status["journal"]["lag_entries"] and time.monotonic() < deadline:
        time.sleep(0.2)
        status = orjson.loads(
            urllib.request.urlopen(f"http://127.0.0.1:{app_port}/-/status", timeout=5).read()
        )
    assert status["journal"]["lag_entries"] == 0
    source = chroma_rows(f"http://127.0.0.1:{chroma_port}", "newcomer")
    assert len(source) == 1000 - 100 - len([i for i in range(200, 1000) if i % 7 == 1])
    embedded_default.stop()  # the local-mode target is locked while the proxy runs
    target = qdrant_rows(tmp_path / "data" / "qdrant", "newcomer")
    assert_same_rows(source, target, cosine=True)
