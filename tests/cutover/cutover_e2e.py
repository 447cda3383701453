"""End-to-end parts of the cutover tests: the proxy host, admin calls, the app and its model."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
import orjson
from harness import ProxyProcess, chroma_rows, json_call

HOST = Path(__file__).resolve().parent / "cutover_host.py"
Model = dict[str, tuple[list[float], dict[str, Any] | None, str | None]]


class HostProcess(ProxyProcess):
    """ProxyProcess running tests/cutover/cutover_host.py (proxy + test admin routes)."""

    ready_path = "/-/live"

    def command(self) -> list[str]:
        return [sys.executable, str(HOST), str(self.config_path)]

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.config['admin']['port']}"

    def admin(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else orjson.dumps(body)
        return json_call(self.admin_url + path, method, data, timeout=120)

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = self.admin(method, path, body)
        assert status in (200, 202), (path, status, answer)  # 202: a backfill started
        return answer

    def wait_drained(self, timeout: float = 120.0) -> dict[str, Any]:
        """Both journal directions applied and no write left open."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            journal, reverse = status["journal"], status["cutover"]["reverse"]
            if not (journal["lag_entries"] or journal["pending_intents"]
                    or reverse["lag_entries"] or reverse["open_intents"]):
                return status
            assert time.monotonic() < deadline, f"not drained: {journal} {reverse}"
            time.sleep(0.1)

    def target_rows(self, name: str) -> dict[str, Any]:
        return dict(self.ok("GET", f"/admin/test/rows?name={name}"))


def source_snapshot(url: str, name: str) -> dict[str, Any]:
    return {i: (r.embedding.tolist(), r.metadata or None, r.document)
            for i, r in chroma_rows(url, name).items()}  # fmt: skip


def target_snapshot(proxy: HostProcess, name: str) -> dict[str, Any]:
    return {i: (r["e"], r["m"] or None, r["d"]) for i, r in proxy.target_rows(name).items()}


def assert_same(a: dict[str, Any], b: dict[str, Any], what: str) -> None:
    assert sorted(a) == sorted(b), (what, sorted(set(a) ^ set(b))[:10])
    for key, (va, ma, da) in a.items():
        vb, mb, db = b[key]
        assert np.allclose(va, vb, rtol=0, atol=1e-6), (what, key, va, vb)
        assert (ma, da) == (mb, db), (what, key, (ma, da), (mb, db))


class App:
    """An unmodified chromadb client app with a model of what it wrote."""

    def __init__(self, port: int, name: str, prefix: str) -> None:
        self.client = chromadb.HttpClient(host="127.0.0.1", port=port)
        self.collection = self.client.get_or_create_collection(name)
        self.prefix = prefix
        self.model: Model = {}
        self.counter = 0
        self.errors: list[BaseException] = []

    def _vector(self, n: int) -> list[float]:
        return [float(n % 7), float(n % 5) / 2.0, 1.0]

    def round(self) -> None:
        """One mixed round of writes and reads (errors are recorded, never raised)."""
        try:
            self._writes()
            self._reads()
        except Exception as exc:
            self.errors.append(exc)

    def _writes(self) -> None:
        c, n = self.collection, self.counter
        self.counter += 4
        new = [f"{self.prefix}{n + i}" for i in range(4)]
        metas = [{"n": n + i, "kind": "new"} for i in range(4)]
        c.add(ids=new, embeddings=[self._vector(n + i) for i in range(4)], metadatas=metas,  # type: ignore[arg-type]
              documents=[f"doc {n + i}" for i in range(4)])
        for i, rid in enumerate(new):
            self.model.setdefault(rid, (self._vector(n + i), metas[i], f"doc {n + i}"))
        known = sorted(self.model)
        target = known[(n * 7) % len(known)]
        vec = self._vector(n + 99)
        c.upsert(ids=[target], embeddings=[vec], metadatas=[{"touched": n}])  # type: ignore[arg-type]
        _, meta, doc = self.model[target]
        self.model[target] = (vec, {**(meta or {}), "touched": n}, doc)
        other = known[(n * 3) % len(known)]
        vec2 = self._vector(n + 50)  # with documents, the client needs embeddings (offline)
        c.update(ids=[other], embeddings=[vec2], metadatas=[{"kind": "updated"}],  # type: ignore[arg-type]
                 documents=[f"upd {n}"])
        _, meta2, _ = self.model[other]
        self.model[other] = (vec2, {**(meta2 or {}), "kind": "updated"}, f"upd {n}")
        if n % 3 == 0 and len(known) > 6:
            gone = known[(n * 5) % len(known)]
            c.delete(ids=[gone])
            self.model.pop(gone, None)

    def _reads(self) -> None:
        c = self.collection
        c.count()
        c.get(ids=list(self.model)[:5])
        c.query(query_embeddings=[[1.0, 0.5, 1.0]], n_results=3)


class Background(threading.Thread):
    """The app writing and reading continuously while the operator moves phases."""

    def __init__(self, app: App) -> None:
        super().__init__(daemon=True)
        self.app = app
        self.running = threading.Event()
        self.stopped = threading.Event()
        self.idle = threading.Event()
        self.rounds = 0

    def run(self) -> None:
        while not self.stopped.is_set():
            if not self.running.wait(0.05):
                self.idle.set()
                continue
            self.idle.clear()
            self.app.round()
            self.rounds += 1

    def pause(self) -> None:
        self.running.clear()
        self.idle.wait(60)
        time.sleep(0.1)
        self.idle.wait(60)

    def resume(self) -> None:
        self.idle.clear()
        self.running.set()
