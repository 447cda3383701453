"""Running a real proxy (child process) with its admin API, and a read/write load on it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
import orjson
import yaml
from harness import ProxyProcess, json_call, new_port, proxy_config

TOKEN = "s3cret-admin-token-for-tests"


def start_proxy(tmp: Path, source_url: str, **sections: Any) -> ProxyProcess:
    """A proxy with its admin API on a free loopback port and ``TOKEN`` required."""
    sections.setdefault("admin", {})
    sections["admin"] = {"port": new_port(), "token": TOKEN, **sections["admin"]}
    return ProxyProcess(tmp, proxy_config(tmp, source_url, new_port(), **sections)).start()


def admin(proxy: ProxyProcess, method: str, path: str, body: Any = None,
          token: str | None = TOKEN) -> tuple[int, Any]:  # fmt: skip
    """One admin API call; returns (HTTP status, JSON body)."""
    url = f"http://127.0.0.1:{proxy.config['admin']['port']}{path}"
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    data = None if body is None else orjson.dumps(body)
    return json_call(url, method, data, headers)


def rewrite_config(proxy: ProxyProcess, **sections: Any) -> None:
    """Change sections of the running proxy's config file (as an operator would)."""
    for section, values in sections.items():
        proxy.config.setdefault(section, {}).update(values)
    proxy.config_path.write_text(yaml.safe_dump(proxy.config))


def client(proxy: ProxyProcess) -> Any:
    return chromadb.HttpClient(host="127.0.0.1", port=proxy.port)


def seed(proxy: ProxyProcess, name: str, n: int = 200, dim: int = 8) -> np.ndarray[Any, Any]:
    """A collection with ``n`` records written through the proxy; returns the vectors."""
    vectors = np.random.default_rng(7).normal(size=(n, dim)).astype(np.float32)
    collection = client(proxy).get_or_create_collection(name)
    for start in range(0, n, 100):
        chunk = vectors[start : start + 100]
        collection.add(
            ids=[f"id-{i}" for i in range(start, start + len(chunk))],
            embeddings=chunk.tolist(),
            metadatas=[{"i": i} for i in range(start, start + len(chunk))],
        )
    return vectors


@dataclass
class Load:
    """App threads reading and writing through the proxy until stopped; counts failures."""

    proxy: ProxyProcess
    name: str
    vectors: np.ndarray[Any, Any]
    threads: int = 4
    ok: int = 0
    failed: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def _work(self, worker: int) -> None:
        collection = client(self.proxy).get_collection(self.name)
        rng = np.random.default_rng(worker)
        i = 0
        while not self._stop.is_set():
            i += 1
            try:
                if i % 5 == 0:
                    vector = self.vectors[i % 50].tolist()
                    collection.upsert(ids=[f"w{worker}-{i}"], embeddings=[vector])
                else:
                    query = self.vectors[int(rng.integers(len(self.vectors)))]
                    collection.query(query_embeddings=[query.tolist()], n_results=5)
                with self._lock:
                    self.ok += 1
            except Exception as exc:
                with self._lock:
                    self.failed.append(repr(exc)[:200])

    def __enter__(self) -> Load:
        for worker in range(self.threads):
            thread = threading.Thread(target=self._work, args=(worker,), daemon=True)
            thread.start()
            self._workers.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._workers:
            thread.join(60)
