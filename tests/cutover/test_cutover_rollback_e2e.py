"""Issue 5: a rollback after cutover loses nothing, even when the old store was down.

Writes accepted in cutover are journaled for the old store and replayed there by the
reverse applier; a rollback first drains that journal. While the old store is down the
new store keeps taking writes, the rollback is refused with the reason, and once the old
store is back the rollback succeeds with every write present in Chroma.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cutover_e2e import App, HostProcess, assert_same, source_snapshot, target_snapshot
from harness import proxy_config

from proxy.upstream.embedded_chroma import EmbeddedChroma, free_port

pytestmark = pytest.mark.timeout(600)


def _to_cutover(proxy: HostProcess, app: App) -> None:
    proxy.ok("POST", "/admin/phase", {"phase": "mirror"})
    for _ in range(3):
        app.round()
    proxy.ok("POST", "/admin/phase", {"phase": "shadow"})
    proxy.wait_drained()
    proxy.ok("POST", "/admin/cutover", {})
    assert proxy.status()["phase"] == "cutover"


def _proxy(tmp: Path, chroma: EmbeddedChroma) -> HostProcess:
    config = proxy_config(tmp, chroma.url, free_port(), guard={"enabled": False},
                          migration={"initial_phase": "passthrough"})  # fmt: skip
    return HostProcess(tmp, config).start()


def test_writes_in_cutover_reach_old_store_after_rollback(
    fresh_chroma: EmbeddedChroma, tmp_path: Path
) -> None:
    proxy = _proxy(tmp_path, fresh_chroma)
    try:
        app = App(proxy.port, "rollback", "a")
        _to_cutover(proxy, app)
        for _ in range(15):
            app.round()
        assert not app.errors, app.errors[:3]
        proxy.ok("POST", "/admin/rollback", {"reason": "test"})
        assert proxy.status()["phase"] == "shadow"
        status = proxy.status()
        assert status["cutover"]["reverse"]["lag_entries"] == 0
        assert status["cutover"]["reverse"]["head"] > 0  # cutover writes went through it
        assert_same(app.model, source_snapshot(fresh_chroma.url, "rollback"), "old store vs app")
        for _ in range(3):  # the old store is primary again: the forward path as before
            app.round()
        proxy.wait_drained()
        assert_same(app.model, source_snapshot(fresh_chroma.url, "rollback"), "after rollback")
        assert_same(app.model, target_snapshot(proxy, "rollback"), "new store after rollback")
        assert not app.errors, app.errors[:3]
    finally:
        proxy.stop()


def test_rollback_waits_for_an_old_store_that_was_down(
    fresh_chroma: EmbeddedChroma, tmp_path: Path
) -> None:
    proxy = _proxy(tmp_path, fresh_chroma)
    try:
        app = App(proxy.port, "down", "d")
        _to_cutover(proxy, app)
        fresh_chroma.stop()  # the old store goes away during cutover
        for _ in range(8):
            app._writes()  # record writes are the new store's now: none may fail
        assert not app.errors
        status, answer = proxy.admin("POST", "/admin/rollback", {"reason": "drill"})
        assert status == 409 and "old store" in answer["error"], answer
        assert proxy.status()["phase"] == "cutover"
        assert proxy.status()["cutover"]["reverse"]["lag_entries"] > 0
        fresh_chroma.start()  # back, same data directory and port
        proxy.ok("POST", "/admin/rollback", {"reason": "drill"})  # drains, then moves
        assert proxy.status()["phase"] == "shadow"
        assert_same(app.model, source_snapshot(fresh_chroma.url, "down"), "old store vs app")
        assert_same(app.model, target_snapshot(proxy, "down"), "new store vs app")
    finally:
        proxy.stop()


def test_forced_rollback_while_old_store_down_then_catches_up(
    fresh_chroma: EmbeddedChroma, tmp_path: Path
) -> None:
    proxy = _proxy(tmp_path, fresh_chroma)
    try:
        app = App(proxy.port, "forced", "f")
        _to_cutover(proxy, app)
        fresh_chroma.stop()
        for _ in range(4):
            app._writes()
        answer = proxy.ok("POST", "/admin/cutover/rollback", {"force": True, "reason": "x"})
        assert answer["forced"] is True and proxy.status()["phase"] == "shadow"
        fresh_chroma.start()
        deadline = time.monotonic() + 60
        while proxy.status()["cutover"]["reverse"]["lag_entries"]:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert_same(app.model, source_snapshot(fresh_chroma.url, "forced"), "caught up")
    finally:
        proxy.stop()
