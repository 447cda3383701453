"""Dual-write end to end: real Chroma source, the proxy as a process, Qdrant local target."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import chromadb
import pytest
from harness import ProxyProcess, assert_same_rows, chroma_rows, new_port, proxy_config, qdrant_rows
from workload import run_workload

from proxy.upstream.embedded_chroma import EmbeddedChroma


@pytest.fixture
def proxy(tmp_path: Path, fresh_chroma: EmbeddedChroma) -> Iterator[ProxyProcess]:
    config = proxy_config(tmp_path, fresh_chroma.url, new_port(), faults={"enabled": True})
    process = ProxyProcess(tmp_path, config).start()
    yield process
    process.kill()


def _client(proxy: ProxyProcess) -> chromadb.HttpClient:  # type: ignore[valid-type]
    return chromadb.HttpClient(host="127.0.0.1", port=proxy.port)


def _finish_and_compare(proxy: ProxyProcess, source_url: str, name: str, cosine: bool) -> None:
    proxy.wait_caught_up()
    status = proxy.status()
    assert status["journal"]["dead_letters"] == 0
    proxy.stop()  # releases the local-mode lock so qdrant-client can open the target
    source = chroma_rows(source_url, name)
    assert len(source) > 50, "the workload should leave data behind"
    assert_same_rows(source, qdrant_rows(proxy.tmp / "qdrant", name), cosine=cosine)


@pytest.mark.slow
def test_mixed_workload_converges(proxy: ProxyProcess, fresh_chroma: EmbeddedChroma) -> None:
    _client(proxy).create_collection("mixed", metadata={"hnsw:space": "cosine"})
    result = run_workload("127.0.0.1", proxy.port, "mixed", writers=8, operations=10_000)
    assert result.failed == 0, result.errors
    assert result.acknowledged == 10_000
    _finish_and_compare(proxy, fresh_chroma.url, "mixed", cosine=True)


@pytest.mark.slow
def test_target_outage_is_invisible_to_the_app(
    proxy: ProxyProcess, fresh_chroma: EmbeddedChroma
) -> None:
    _client(proxy).create_collection("outage")
    stop_outage = threading.Event()

    def outage() -> None:
        time.sleep(1.0)
        proxy.post("/-/faults", {"down": True})
        stop_outage.wait(6.0)
        lagging = proxy.status()["journal"]["lag_entries"]
        assert lagging > 0, "the journal should grow while the target is down"
        proxy.post("/-/faults", {"down": False})

    thread = threading.Thread(target=outage)
    thread.start()
    result = run_workload("127.0.0.1", proxy.port, "outage", writers=8, operations=3000)
    stop_outage.set()
    thread.join()
    assert result.failed == 0, result.errors
    metrics = proxy.get_text("/metrics")
    assert 'vecbridge_applier_errors_total{kind="unavailable"}' in metrics
    _finish_and_compare(proxy, fresh_chroma.url, "outage", cosine=False)


@pytest.mark.slow
def test_sigkill_under_load_loses_nothing(
    proxy: ProxyProcess, fresh_chroma: EmbeddedChroma
) -> None:
    _client(proxy).create_collection("killed")
    stop = threading.Event()
    results = []

    def load() -> None:
        while not stop.is_set():
            results.append(
                run_workload("127.0.0.1", proxy.port, "killed", writers=8, operations=400)
            )

    thread = threading.Thread(target=load)
    thread.start()
    for _ in range(2):
        time.sleep(2.5)
        proxy.kill()
        time.sleep(0.5)
        proxy.start()
    time.sleep(2.0)
    stop.set()
    thread.join()
    acknowledged = sum(r.acknowledged for r in results)
    assert acknowledged > 200, "the load should have made progress across restarts"
    _finish_and_compare(proxy, fresh_chroma.url, "killed", cosine=False)
