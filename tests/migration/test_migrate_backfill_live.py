"""Must-show 1 at CI size: 8 writers keep writing through the proxy while a backfill
running inside it is killed twice and resumed; validate --full then passes.

The full 100,000 x 384 run is bench/backfill.py --live (numbers in bench/RESULTS.md).
The target is Qdrant local mode, so the backfill runs inside the proxy process (what
the admin API does); SIGKILL takes the proxy down with it, which is the harder case.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from harness import REPO, ProxyProcess, assert_same_rows, chroma_rows, proxy_config, qdrant_rows
from migrate_support import checkpoint, cli_json, seed
from workload import WorkloadResult, run_writer

from proxy.upstream.embedded_chroma import EmbeddedChroma, free_port

RECORDS = int(os.environ.get("LIVE_BACKFILL_RECORDS", "6000"))
DIM = int(os.environ.get("LIVE_BACKFILL_DIM", "64"))
BATCH = 250
T0 = 0.0


class BackfillHost(ProxyProcess):
    """The proxy with a backfill started inside it (tests/migration/backfill_host.py)."""

    def __init__(self, tmp: Path, config: dict[str, object], collection: str) -> None:
        super().__init__(tmp, config)
        self.collection = collection

    def command(self) -> list[str]:
        script = REPO / "tests" / "migration" / "backfill_host.py"
        return [sys.executable, str(script), str(self.config_path), self.collection, str(BATCH)]

    def backfill(self) -> dict[str, object]:
        return self.status()["backfill"]  # type: ignore[no-any-return]


def _wait_copied(host: BackfillHost, journal_dir: Path, at_least: int) -> int:
    """Until ``at_least`` records are copied (or the copy ended: writers delete records)."""
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        state = checkpoint(journal_dir).get(host.collection, {})
        if state.get("copied", 0) >= at_least or state.get("copy_done"):
            return int(state.get("copied", 0))
        time.sleep(0.05)
    raise TimeoutError(f"backfill never reached {at_least}: {host.backfill()}")


def _writers(port: int, name: str, stop: threading.Event) -> tuple[list[threading.Thread],
                                                                  WorkloadResult]:
    result = WorkloadResult()
    threads = [threading.Thread(target=run_writer, args=(
        "127.0.0.1", port, name, 100 + i, 10**6, RECORDS // 4, DIM, result, stop))
        for i in range(8)]
    for thread in threads:
        thread.start()
    return threads, result


def test_backfill_killed_twice_under_writes_validates(
    chroma_server: EmbeddedChroma, unique_name: str, tmp_path: Path
) -> None:
    global T0
    T0 = time.monotonic()
    seed(chroma_server.url, unique_name, RECORDS, DIM)
    print("seeded", time.monotonic() - T0)
    port = free_port()
    config = proxy_config(tmp_path, chroma_server.url, port, admin={"enabled": False},
                          validation={"queries": 20})
    host = BackfillHost(tmp_path, config, unique_name).start()
    stop = threading.Event()
    threads, result = _writers(port, unique_name, stop)
    try:
        resumed = []
        for share in (0.25, 0.5):
            copied = _wait_copied(host, tmp_path, int(RECORDS * share))
            host.kill()  # SIGKILL: proxy and backfill die mid-batch
            after_kill = checkpoint(tmp_path)[unique_name]["copied"]
            assert after_kill >= copied  # the checkpoint is never behind what was reported
            host.start()
            resumed.append(after_kill)
            print("killed at", after_kill, time.monotonic() - T0)
        deadline = time.monotonic() + 3600
        while (progress := host.backfill())["running"]:
            assert time.monotonic() < deadline, progress
            time.sleep(0.2)
        assert progress["passed"], progress
        item: dict[str, Any] = progress["collections"][0]  # type: ignore[index]
        assert item["resumed_from"] == resumed[-1]
        print("backfill done", time.monotonic() - T0, item)
    except BaseException:
        host.kill()  # never leave the proxy behind a failed test
        raise
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert result.acknowledged > 100, result.errors
    print("writers stopped", time.monotonic() - T0, result.acknowledged, result.failed)
    host.wait_caught_up()
    print("caught up", time.monotonic() - T0)
    host.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
    host.process.wait(30)  # type: ignore[union-attr]
    code, report = cli_json("validate", "--config", str(host.config_path), "--full",
                            "--collections", unique_name)
    assert code == 0 and report["passed"], report
    (coll,) = report["collections"]
    assert coll["mismatches"] == coll["missing_in_target"] == coll["extra_in_target"] == 0
    assert_same_rows(chroma_rows(chroma_server.url, unique_name),
                     qdrant_rows(tmp_path / "qdrant", unique_name))
