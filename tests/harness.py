"""Test harness: the proxy as a real child process, and independent content readers.

The readers deliberately do not use vecbridge's adapters: the source is read with the
real chromadb client and the target with qdrant-client, so a bug in an adapter cannot
hide itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import chromadb
import numpy as np
import orjson
import yaml
from qdrant_client import QdrantClient

from adapters.base import CollectionKey
from adapters.qdrant_layout import collection_name, record_from_point
from proxy.upstream.embedded_chroma import free_port

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Row:
    embedding: np.ndarray[Any, Any]
    metadata: dict[str, Any] | None
    document: str | None


def proxy_config(tmp: Path, source_url: str, port: int, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "listen": {"host": "127.0.0.1", "port": port},
        "source": {"url": source_url},
        "target": {"path": str(tmp / "qdrant")},
        "journal": {"path": str(tmp / "journal.sqlite")},
        "migration": {"state_path": str(tmp / "state.sqlite"), "initial_phase": "mirror"},
        "applier": {"retry_max_seconds": 0.5},
        "admin": {"port": free_port()},
    }
    for section, values in overrides.items():
        config.setdefault(section, {}).update(values)
    return config



def json_call(
    url: str, method: str = "GET", data: bytes | None = None,
    headers: dict[str, str] | None = None, timeout: float = 30.0,
) -> tuple[int, Any]:  # fmt: skip
    """One HTTP call with a JSON answer: (status, decoded body), error statuses included."""
    sent = {"Content-Type": "application/json", **(headers or {})}
    request = urllib.request.Request(url, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, orjson.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read() or b"null")


class ProxyProcess:
    """``vecbridge serve`` in a child process; start, SIGTERM, SIGKILL, restart."""

    def __init__(self, tmp: Path, config: dict[str, Any]) -> None:
        self.tmp = tmp
        self.config = config
        self.port = int(config["listen"]["port"])
        self.config_path = tmp / "vecbridge.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = tmp / "proxy.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    #: the path polled until the process answers it (subclasses may wait for less)
    ready_path = "/-/ready"

    def command(self) -> list[str]:
        """The child's command line; test hosts that wrap the proxy override it."""
        return [sys.executable, "-m", "proxy.cli", "serve", "--config", str(self.config_path)]

    def start(self, timeout: float = 60.0) -> Self:
        env = {
            **os.environ,
            "ANONYMIZED_TELEMETRY": "False",
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        }
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.tmp, env=env
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"proxy exited early:\n{self.log_path.read_text()[-3000:]}")
            try:
                self.get(self.ready_path)
                return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise RuntimeError(f"proxy did not become ready:\n{self.log_path.read_text()[-3000:]}")

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as resp:
            return orjson.loads(resp.read())

    def get_text(self, path: str) -> str:
        with urllib.request.urlopen(self.url + path, timeout=10) as resp:
            return str(resp.read().decode())

    def post(self, path: str, body: Any) -> Any:
        req = urllib.request.Request(
            self.url + path, data=orjson.dumps(body), method="POST",
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(req, timeout=10) as resp:
            return orjson.loads(resp.read())

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.get("/-/status")
        return status

    def wait_caught_up(self, timeout: float = 300.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            journal = status["journal"]
            if journal["lag_entries"] == 0 and journal["pending_intents"] == 0:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"journal never caught up: {journal}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)
        self.process = None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)
        self.process = None


def new_port() -> int:
    return free_port()


def chroma_rows(url: str, name: str) -> dict[str, Row]:
    """Everything a Chroma collection holds, read with the real chromadb client."""
    host, port = url.removeprefix("http://").split(":")
    client = chromadb.HttpClient(host=host, port=int(port))
    collection = client.get_collection(name)
    rows: dict[str, Row] = {}
    offset = 0
    while True:
        page = collection.get(
            include=["embeddings", "metadatas", "documents"], limit=1000, offset=offset
        )
        if not page["ids"]:
            return rows
        for i, id_ in enumerate(page["ids"]):
            rows[id_] = Row(
                np.asarray(page["embeddings"][i], dtype=np.float32),  # type: ignore[index]
                page["metadatas"][i],  # type: ignore[index]
                page["documents"][i],  # type: ignore[index]
            )
        offset += len(page["ids"])


def qdrant_rows(path: Path, name: str) -> dict[str, Row]:
    """Everything the target holds for a collection, read with qdrant-client."""
    client = QdrantClient(path=str(path))
    try:
        rows: dict[str, Row] = {}
        offset = None
        while True:
            points, offset = client.scroll(
                collection_name(CollectionKey(name)), limit=1000, offset=offset,
                with_payload=True, with_vectors=True,
            )  # fmt: skip
            for point in points:
                record = record_from_point(dict(point.payload or {}), point.vector)
                assert record.embedding is not None
                rows[record.id] = Row(record.embedding, record.metadata, record.document)
            if offset is None:
                return rows
    finally:
        client.close()


def assert_same_rows(source: dict[str, Row], target: dict[str, Row], cosine: bool = False) -> None:
    """Identical ids, metadata, documents, and vectors within 1e-6 (normalised for cosine)."""
    assert sorted(source) == sorted(target), (
        f"ids differ: only in source {sorted(set(source) - set(target))[:10]}, "
        f"only in target {sorted(set(target) - set(source))[:10]}"
    )
    for id_, want in source.items():
        got = target[id_]
        assert got.metadata == want.metadata, f"{id_}: metadata {got.metadata} != {want.metadata}"
        assert got.document == want.document, f"{id_}: document differs"
        a, b = want.embedding, got.embedding
        if cosine:
            a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
        assert np.allclose(a, b, rtol=0, atol=1e-6), f"{id_}: vectors differ"
