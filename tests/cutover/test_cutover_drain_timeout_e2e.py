"""``migration.drain_timeout_seconds``: the phase moves around cutover give up after it.

Into cutover, the forward journal must drain; a new store that is down (fault injection)
never lets it, so even a forced cutover is refused, after the configured 1 s wait rather
than the default 30 s (twice: before and under the write barrier). Out of cutover, the
reverse journal must drain: the old store was down during cutover writes, so the reverse
applier sleeps through a long retry backoff; once the old store is back and healthy, a
rollback is refused for lag after 1 s instead of waiting the backoff out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from cutover_e2e import App, HostProcess
from harness import REPO, json_call, proxy_config

from proxy.core.config import ConfigError, load_config, parse_config
from proxy.upstream.embedded_chroma import EmbeddedChroma, free_port

pytestmark = pytest.mark.timeout(600)

DRAIN = 1.0
# The default drain would answer after 2 x 30 s; a client that stops listening well before
# that turns "the configured value was ignored" into a failure instead of a slow pass.
ADMIN_TIMEOUT = 25.0
# The reverse applier's first retry comes this long after the old store failed: far
# longer than restarting Chroma and asking for the rollback take.
BACKOFF = 60.0


def test_the_key_defaults_to_30_seconds_and_must_be_positive() -> None:
    assert parse_config({}).migration.drain_timeout_seconds == 30.0
    assert load_config(REPO / "config.yaml", environ={}).migration.drain_timeout_seconds == 30.0
    with pytest.raises(ConfigError, match=r"migration\.drain_timeout_seconds"):
        parse_config({"migration": {"drain_timeout_seconds": 0}})


def _proxy(tmp: Path, chroma: EmbeddedChroma) -> HostProcess:
    config = proxy_config(
        tmp, chroma.url, free_port(), guard={"enabled": False}, faults={"enabled": True},
        migration={"initial_phase": "passthrough", "drain_timeout_seconds": DRAIN},
        applier={"retry_initial_seconds": BACKOFF, "retry_max_seconds": BACKOFF},
    )  # fmt: skip
    return HostProcess(tmp, config).start()


def _admin(proxy: HostProcess, path: str, body: Any) -> tuple[int, Any]:
    return json_call(proxy.admin_url + path, "POST", orjson.dumps(body), timeout=ADMIN_TIMEOUT)


def _gauge(text: str, name: str) -> float:
    """One unlabelled sample of the Prometheus text page."""
    return float(next(line for line in text.splitlines() if line.startswith(name + " ")).split()[1])


def _to_shadow(proxy: HostProcess, app: App) -> None:
    proxy.ok("POST", "/admin/phase", {"phase": "mirror"})
    for _ in range(3):
        app.round()
    proxy.ok("POST", "/admin/phase", {"phase": "shadow"})
    proxy.wait_drained()


def test_cutover_is_refused_after_the_configured_drain_timeout(
    fresh_chroma: EmbeddedChroma, tmp_path: Path
) -> None:
    proxy = _proxy(tmp_path, fresh_chroma)
    try:
        app = App(proxy.port, "into", "i")
        _to_shadow(proxy, app)
        proxy.post("/-/faults", {"down": True})  # the applier cannot reach the new store
        app._writes()
        assert proxy.status()["journal"]["lag_entries"] > 0
        status, answer = _admin(proxy, "/admin/cutover", {"force": True})
        assert status == 409, answer
        assert "forward journal" in answer["error"], answer
        assert proxy.status()["phase"] == "shadow"
        assert not app.errors, app.errors[:3]
    finally:
        proxy.kill()


def test_rollback_is_refused_after_the_configured_drain_timeout(
    fresh_chroma: EmbeddedChroma, tmp_path: Path
) -> None:
    proxy = _proxy(tmp_path, fresh_chroma)
    try:
        app = App(proxy.port, "back", "b")
        _to_shadow(proxy, app)
        proxy.ok("POST", "/admin/cutover", {})
        fresh_chroma.stop()
        for _ in range(3):
            app._writes()  # taken by the new store, journaled for the old one
        assert not app.errors, app.errors[:3]
        text = proxy.get_text("/metrics")
        assert _gauge(text, "vecbridge_reverse_journal_lag_entries") > 0
        fresh_chroma.start()  # healthy again, but the reverse applier is still backing off
        status, answer = _admin(proxy, "/admin/rollback", {"reason": "drill"})
        assert status == 409, answer
        assert "has not caught up" in answer["error"], answer
        assert proxy.status()["phase"] == "cutover"
        assert proxy.status()["cutover"]["last_refusal"] == answer["error"]
    finally:
        proxy.kill()
