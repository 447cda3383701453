"""Test support for shadow/canary: a proxy child process, data loading, metric reading."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
from harness import ProxyProcess, new_port, proxy_config

# Only the behaviour under test: the guard would roll back on injected faults.
NO_GUARD = {"enabled": False}


def start(tmp: Path, source_url: str, phase: str, **sections: Any) -> ProxyProcess:
    """A proxy in ``phase`` with fault injection on and the guard off."""
    sections.setdefault("faults", {"enabled": True})
    sections.setdefault("guard", NO_GUARD)
    sections["migration"] = {"initial_phase": phase, **sections.get("migration", {})}
    config = proxy_config(tmp, source_url, new_port(), **sections)
    config["migration"]["initial_phase"] = phase
    return ProxyProcess(tmp, config).start()


def client_of(url: str, headers: dict[str, str] | None = None) -> Any:
    host, port = url.removeprefix("http://").split(":")
    return chromadb.HttpClient(host=host, port=int(port), headers=headers)


def load(proxy: ProxyProcess, name: str, vectors: np.ndarray[Any, Any], space: str = "l2") -> Any:
    """Create ``name`` through the proxy and add ``vectors`` (ids r-0..), then catch up."""
    collection = client_of(proxy.url).create_collection(
        name, configuration={"hnsw": {"space": space}}
    )
    for start_at in range(0, len(vectors), 1000):
        chunk = vectors[start_at : start_at + 1000]
        numbers = range(start_at, start_at + len(chunk))
        collection.add(
            ids=[f"r-{i}" for i in numbers],
            embeddings=chunk.tolist(),
            metadatas=[{"i": i, "even": i % 2 == 0} for i in numbers],
            documents=[f"doc {i}" for i in numbers],
        )
    proxy.wait_caught_up()
    return collection


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text page (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        sample, value = line.rsplit(" ", 1)
        found = dict(re.findall(r'(\w+)="([^"]*)"', sample))
        if sample.split("{")[0] == name and all(found.get(k) == v for k, v in labels.items()):
            total += float(value)
    return total


def wait_compared(proxy: ProxyProcess, at_least: int, timeout: float = 60.0) -> dict[str, Any]:
    """``GET /-/shadow`` once ``at_least`` comparisons are done."""
    deadline = time.monotonic() + timeout
    while True:
        snapshot: dict[str, Any] = proxy.get("/-/shadow")
        if snapshot["compared"] >= at_least:
            return snapshot
        assert time.monotonic() < deadline, f"shadow comparisons missing: {snapshot}"
        time.sleep(0.1)


def admin_post(proxy: ProxyProcess, path: str, body: Any) -> Any:
    """POST to the proxy's admin API (loopback, no token in these configs)."""
    import urllib.request

    import orjson

    url = f"http://127.0.0.1:{proxy.config['admin']['port']}{path}"
    request = urllib.request.Request(
        url, data=orjson.dumps(body), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return orjson.loads(response.read())
