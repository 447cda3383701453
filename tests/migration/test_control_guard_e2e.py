"""Must-show 2: injected faults on the new store trip the guard of a real proxy.

Needs the read path (proxy/reads/path.py) to route canary reads and sample shadow reads and
to emit ``CanaryRead`` / ``ShadowCompared`` (proxy/core/events.py); until it does, these
tests are skipped with that reason. Each test enables only the rule under test, runs
the app (chromadb client, reads and writes) through the proxy, injects the fault, and
checks the rollback: phase, reason in status, metric, webhook body, and that no app
request failed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from control_proxy import Load, admin, seed, start_proxy
from harness import ProxyProcess
from qdrant_client import QdrantClient, models
from webhook_sink import WebhookSink

from adapters.base import CollectionKey
from adapters.qdrant_layout import collection_name
from proxy.upstream.embedded_chroma import EmbeddedChroma

WINDOW = 20.0
NO_RULES: dict[str, Any] = {
    "max_error_rate": None, "max_latency_delta_p50_seconds": None,
    "max_latency_delta_p99_seconds": None, "min_recall": None, "max_journal_lag_seconds": None,
}  # fmt: skip


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink() as receiver:
        yield receiver


def _proxy(tmp: Path, source: str, sink: WebhookSink, phase: str, **rule: Any) -> ProxyProcess:
    return start_proxy(
        tmp, source, faults={"enabled": True}, migration={"initial_phase": phase},
        canary={"percent": 50}, shadow={"sample_rate": 1.0},
        guard={**NO_RULES, **rule, "window_seconds": WINDOW, "min_samples": 20,
               "check_seconds": 0.2},
        webhooks={"endpoints": [{"url": sink.url}], "retries": 1},
    )  # fmt: skip


def _await_rollback(proxy: ProxyProcess, load: Load, sink: WebhookSink, reason: str) -> None:
    deadline = time.monotonic() + WINDOW + 30  # the window fills, then one check
    while proxy.status()["phase"] != "shadow":
        assert time.monotonic() < deadline, f"no rollback: {proxy.status()['guard']}"
        time.sleep(0.2)
    status = proxy.status()
    assert status["guard"]["tripped"] and status["guard"]["trip"]["reason"] == reason
    assert status["canary"]["percent"] == 0
    metrics = proxy.get_text("/metrics")
    assert f'vecbridge_guard_trips_total{{reason="{reason}"}} 1.0' in metrics
    assert "vecbridge_guard_tripped 1.0" in metrics
    while not sink.bodies:
        assert time.monotonic() < deadline + 10, "no webhook"
        time.sleep(0.1)
    assert sink.bodies[0]["reason"] == reason and sink.bodies[0]["automatic"] is True
    assert load.failed == [], load.failed[:5]


@pytest.mark.slow
def test_new_store_errors_trip_error_rate(
    tmp_path: Path, chroma_server: EmbeddedChroma, sink: WebhookSink, unique_name: str
) -> None:
    proxy = _proxy(tmp_path, chroma_server.url, sink, "canary", max_error_rate=0.05)
    try:
        vectors = seed(proxy, unique_name)
        proxy.wait_caught_up()
        proxy.post("/-/faults", {"error_rate": 0.2, "reads_only": True})
        with Load(proxy, unique_name, vectors) as load:
            _await_rollback(proxy, load, sink, "error_rate")
    finally:
        proxy.kill()


@pytest.mark.slow
def test_new_store_latency_trips_latency(
    tmp_path: Path, chroma_server: EmbeddedChroma, sink: WebhookSink, unique_name: str
) -> None:
    proxy = _proxy(tmp_path, chroma_server.url, sink, "canary", max_latency_delta_p50_seconds=0.1)
    try:
        vectors = seed(proxy, unique_name)
        proxy.wait_caught_up()
        proxy.post("/-/faults", {"latency_seconds": 0.3, "reads_only": True})
        with Load(proxy, unique_name, vectors) as load:
            _await_rollback(proxy, load, sink, "latency_p50")
    finally:
        proxy.kill()


@pytest.mark.slow
def test_damaged_target_trips_recall(
    tmp_path: Path, chroma_server: EmbeddedChroma, sink: WebhookSink, unique_name: str
) -> None:
    proxy = _proxy(tmp_path, chroma_server.url, sink, "mirror", min_recall=0.9)
    vectors = seed(proxy, unique_name)
    proxy.wait_caught_up()
    proxy.stop()  # releases the local-mode lock
    target = QdrantClient(path=str(tmp_path / "qdrant"))
    try:  # damage: drop most of the target's points behind the proxy's back
        points, _ = target.scroll(collection_name(CollectionKey(unique_name)), limit=1000)
        doomed = [p.id for p in points][: int(len(points) * 0.7)]
        target.delete(
            collection_name(CollectionKey(unique_name)), models.PointIdsList(points=doomed)
        )
    finally:
        target.close()
    proxy.start()
    try:
        with Load(proxy, unique_name, vectors) as load:
            _phase(proxy, "shadow")
            _phase(proxy, "canary")
            _await_rollback(proxy, load, sink, "recall")
    finally:
        proxy.kill()


def _phase(proxy: ProxyProcess, name: str) -> None:
    status, body = admin(proxy, "POST", "/admin/phase", {"phase": name})
    assert status == 200, body
