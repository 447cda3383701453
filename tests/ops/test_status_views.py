"""``/-/status`` (app port) is the public view of ``/admin/status``: the same migration
numbers, none of the operator's details; ``journal.length`` counts stored entries."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
import orjson
import pytest
from harness import ProxyProcess, proxy_config

from adapters.base import CollectionKey, CollectionSpec, Record, Space
from proxy.journal.changes import UpsertRecords
from proxy.journal.journal import APPLIER_CURSOR, Journal, stored_entries
from proxy.upstream.embedded_chroma import EmbeddedChroma, free_port

REASON = "INC-4711 operator note"
# Every field a consumer reads from /-/status (tests, bench, `vecbridge status --url`,
# the runbook's checks): they must stay.
CONSUMED = [
    ("phase",), ("version",), ("uptime_seconds",),
    ("journal", "head"), ("journal", "applied_position"), ("journal", "length"),
    ("journal", "lag_entries"), ("journal", "lag_seconds"), ("journal", "pending_intents"),
    ("journal", "dead_letters"), ("journal", "reverse", "lag_entries"), ("dead_letters",),
    ("source", "engine"), ("source", "url"), ("source", "healthy"), ("source", "error"),
    ("target", "engine"), ("target", "path"), ("target", "healthy"), ("target", "error"),
    ("backfill", "running"), ("backfill", "collections"), ("shadow_reads", "compared"),
    ("canary", "percent"), ("canary", "active_percent"), ("canary", "serving_percent"),
    ("shadow_sampling", "sample_rate"),
    ("guard", "tripped"), ("guard", "trip"), ("reload", "last"), ("phase_history",),
    ("cutover", "new_store_primary"), ("cutover", "reverse", "head"),
    ("cutover", "reverse", "lag_entries"), ("cutover", "reverse", "open_intents"),
    ("cutover", "last_refusal"),
]  # fmt: skip


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        body: dict[str, Any] = orjson.loads(response.read())
        return body


def _post(url: str, body: object) -> None:
    request = urllib.request.Request(url, data=orjson.dumps(body), method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=30).close()


@pytest.fixture
def proxy(tmp_path: Path, chroma_server: EmbeddedChroma) -> Iterator[ProxyProcess]:
    process = ProxyProcess(tmp_path, proxy_config(tmp_path, chroma_server.url, free_port()))
    process.start()
    yield process
    process.kill()


def test_public_status_keeps_numbers_and_drops_operator_details(
    proxy: ProxyProcess, unique_name: str
) -> None:
    client = chromadb.HttpClient(host="127.0.0.1", port=proxy.port)
    collection = client.create_collection(unique_name)
    vectors = np.random.default_rng(3).normal(size=(40, 4)).astype(np.float32)
    for start in range(0, 40, 10):
        collection.add(ids=[f"r{i}" for i in range(start, start + 10)],
                       embeddings=vectors[start:start + 10])
    proxy.wait_caught_up()
    admin = f"http://127.0.0.1:{proxy.config['admin']['port']}"
    _post(f"{admin}/admin/phase", {"phase": "shadow", "reason": REASON})
    full = _get(f"{admin}/admin/status")
    public = proxy.status()

    for path in CONSUMED:
        node: Any = public
        for key in path:
            assert isinstance(node, dict) and key in node, f"/-/status lost {'.'.join(path)}"
            node = node[key]
    # the operator's details are on the admin port only
    assert full["phase_history"][-1]["reason"] == REASON
    assert full["reload"]["path"] == str(proxy.config_path)
    text = orjson.dumps(public).decode()
    assert REASON not in text and str(proxy.config_path) not in text
    for block in ("ramp", "webhooks"):
        assert block in full and block not in public
    assert "measurements" in full["guard"] and "measurements" not in public["guard"]
    assert public["phase_history"][-1]["to_phase"] == "shadow"
    # the numbers are the same
    assert public["phase"] == full["phase"] == "shadow"
    journal = public["journal"]
    assert journal["head"] == full["journal"]["head"]
    # length: entries stored, not the lag (nothing was pruned: every entry is still there)
    assert journal["lag_entries"] == 0
    assert journal["length"] == journal["head"] > 0


def _upsert(i: int) -> UpsertRecords:
    spec = CollectionSpec(CollectionKey("c"), Space.L2, 2)
    return UpsertRecords(spec, (Record(f"r{i}", np.zeros(2, dtype=np.float32)),))


async def test_stored_entries_follow_appends_and_pruning(tmp_path: Path) -> None:
    journal = await Journal(tmp_path / "journal.sqlite").open()
    try:
        assert stored_entries(journal.path) == {}
        for i in range(30):
            await journal.append([_upsert(i)])
        assert stored_entries(journal.path) == {"target": 30}
        await journal.set_cursor(APPLIER_CURSOR, 25)  # the applier got this far
        await journal.prune("target", 12)  # applied entries past retention go
        assert stored_entries(journal.path) == {"target": 18}
        assert (await journal.stats()).lag_entries == 5  # what the old "length" showed
    finally:
        await journal.close()
    assert stored_entries(tmp_path / "absent.sqlite") == {}
