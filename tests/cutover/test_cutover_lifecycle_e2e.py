"""Issue 5: the whole life of a migration against real servers, the app never failing.

passthrough -> mirror -> backfill -> shadow -> canary 10% -> 50% -> cutover -> rollback ->
cutover -> finalize, with an unmodified chromadb app writing and reading all along (a
background thread, also while the phase moves). At every step both stores hold the same
records as the app's own model, while both are written; after finalize only the new one.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cutover_e2e import App, Background, HostProcess, assert_same, source_snapshot, target_snapshot
from harness import proxy_config

from proxy.upstream.embedded_chroma import EmbeddedChroma, free_port

pytestmark = pytest.mark.timeout(600)
NAME = "lifecycle"


def _config(tmp: Path, source_url: str) -> dict:  # type: ignore[type-arg]
    return proxy_config(
        tmp, source_url, free_port(),
        migration={"initial_phase": "passthrough"},
        guard={"enabled": False},
    )  # fmt: skip


def _check(proxy: HostProcess, chroma: EmbeddedChroma, app: App, step: str,
           both: bool = True) -> None:  # fmt: skip
    """Pause the app, let both journals drain, then compare stores and the app's model."""
    proxy.wait_drained()
    model = {i: (v, m, d) for i, (v, m, d) in app.model.items()}
    target = target_snapshot(proxy, NAME)
    assert_same(model, target, f"{step}: target vs app")
    if both:
        assert_same(model, source_snapshot(chroma.url, NAME), f"{step}: source vs app")


def _act(proxy: HostProcess, path: str, body: dict) -> None:  # type: ignore[type-arg]
    """An operator action; a cutover refused for a write caught in flight is retried.

    (The controller's pre-check counts intents of writes in flight at that instant; under
    live traffic an operator simply repeats the command. The switch itself is a barrier.)
    """
    for _ in range(50):
        status, answer = proxy.admin("POST", path, body)
        if status == 200:
            return
        assert status == 409 and "in flight" in answer["error"], (path, status, answer)
        time.sleep(0.1)
    raise AssertionError(f"{path} kept being refused")


def test_full_migration_life(fresh_chroma: EmbeddedChroma, tmp_path: Path) -> None:
    proxy = HostProcess(tmp_path, _config(tmp_path, fresh_chroma.url)).start()
    worker: Background | None = None
    try:
        app = App(proxy.port, NAME, "r")
        for _ in range(10):  # the data the app had before the migration
            app.round()
        assert not app.errors, app.errors
        assert proxy.status()["phase"] == "passthrough"
        worker = Background(app)
        worker.start()
        worker.resume()
        proxy.ok("POST", "/admin/phase", {"phase": "mirror"})
        proxy.ok("POST", "/admin/backfill", {"collections": [NAME]})
        while proxy.ok("GET", "/admin/backfill")["running"]:
            time.sleep(0.2)
        assert proxy.ok("GET", "/admin/backfill")["passed"], proxy.ok("GET", "/admin/backfill")
        steps = [
            ("mirror+backfill", None),
            ("shadow", ("/admin/phase", {"phase": "shadow"})),
            ("canary", ("/admin/phase", {"phase": "canary"})),
            ("canary 10", ("/admin/canary", {"percent": 10})),
            ("canary 50", ("/admin/canary", {"percent": 50})),
            ("cutover", ("/admin/cutover", {})),
            ("rollback", ("/admin/rollback", {"reason": "drill"})),
            ("cutover again", ("/admin/cutover", {})),
        ]
        for step, action in steps:
            if action is not None:
                _act(proxy, *action)  # the app keeps writing while the phase moves
            time.sleep(1.0)
            worker.pause()
            _check(proxy, fresh_chroma, app, step)
            worker.resume()
        proxy.ok("POST", "/admin/finalize")
        time.sleep(1.0)
        worker.pause()
        before = source_snapshot(fresh_chroma.url, NAME)
        _check(proxy, fresh_chroma, app, "finalized", both=False)
        assert source_snapshot(fresh_chroma.url, NAME) == before  # old store left alone
        worker.stopped.set()
        worker.join(30)
        assert not app.errors, app.errors[:3]
        assert worker.rounds > 10
        status = proxy.status()
        assert status["phase"] == "finalized"
        assert [t["to_phase"] for t in status["phase_history"]][-8:] == [
            "mirror", "shadow", "canary", "cutover", "shadow", "cutover", "finalized",
        ][-8:]
    finally:
        if worker is not None:  # a failed step must not leave the app writing into the next test
            worker.stopped.set()
            worker.join(30)
        proxy.stop()
