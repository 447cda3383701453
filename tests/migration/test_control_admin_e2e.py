"""Admin API, CLI verbs, reload and persistence against a real proxy process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from control_proxy import TOKEN, Load, admin, rewrite_config, seed, start_proxy
from harness import ProxyProcess

from proxy.core.config import parse_config
from proxy.ops.admin import AdminRefused, check_admin_bind
from proxy.upstream.embedded_chroma import EmbeddedChroma


def wait_for(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition never held")
        time.sleep(0.1)


@pytest.fixture
def proxy(tmp_path: Path, chroma_server: EmbeddedChroma) -> Iterator[ProxyProcess]:
    process = start_proxy(
        tmp_path, chroma_server.url, migration={"initial_phase": "canary"},
        canary={"percent": 10}, reload={"watch_seconds": 0.3},
    )  # fmt: skip
    yield process
    process.kill()


def cli(
    proxy: ProxyProcess, *argv: str, token: str | None = TOKEN
) -> subprocess.CompletedProcess[str]:
    """``vecbridge VERB`` as an operator runs it: port from cli.yaml, token from the env."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECBRIDGE_")}
    if token is not None:
        env["VECBRIDGE_ADMIN__TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "proxy.cli", *argv, "--config", str(proxy.tmp / "cli.yaml")],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip


def _cli_config(proxy: ProxyProcess) -> None:
    # Names the admin port only: the token must come from VECBRIDGE_ADMIN__TOKEN.
    config = {"admin": {"port": proxy.config["admin"]["port"]}}
    (proxy.tmp / "cli.yaml").write_text(yaml.safe_dump(config))


def test_admin_refuses_missing_or_wrong_token(proxy: ProxyProcess) -> None:
    for token in (None, "wrong", TOKEN + "x", ""):
        status, body = admin(proxy, "GET", "/admin/status", token=token)
        assert status == 401 and body == {"error": "unauthorized"}
        status, _ = admin(proxy, "POST", "/admin/rollback", {}, token=token)
        assert status == 401
    assert proxy.status()["phase"] == "canary"  # nothing happened
    status, body = admin(proxy, "GET", "/admin/status")
    assert status == 200 and body["canary"]["percent"] == 10
    assert TOKEN not in proxy.log_path.read_text()
    assert TOKEN not in proxy.get_text("/metrics")


def test_admin_bind_refuses_non_loopback_without_token() -> None:
    with pytest.raises(AdminRefused, match="not a loopback"):
        check_admin_bind(parse_config({"admin": {"host": "0.0.0.0"}}).admin)
    check_admin_bind(parse_config({"admin": {"host": "0.0.0.0", "token": "t"}}).admin)
    check_admin_bind(parse_config({"admin": {"host": "::1"}}).admin)


def test_cli_verbs_drive_the_migration(proxy: ProxyProcess) -> None:
    _cli_config(proxy)
    assert cli(proxy, "canary", "50").returncode == 0
    assert proxy.status()["canary"]["active_percent"] == 50
    refused = cli(proxy, "finalize")
    assert refused.returncode == 1 and "only possible from cutover" in refused.stderr
    rolled = cli(proxy, "rollback", "--reason", "looks wrong")
    assert rolled.returncode == 0, rolled.stderr
    status = proxy.status()
    assert status["phase"] == "shadow" and status["canary"]["percent"] == 0
    assert "reason" not in status["phase_history"][-1]  # operator text: admin port only
    _, full = admin(proxy, "GET", "/admin/status")
    assert full["phase_history"][-1]["reason"].endswith("looks wrong")
    assert 'vecbridge_guard_trips_total{reason="manual"} 1.0' in proxy.get_text("/metrics")
    assert cli(proxy, "phase", "canary").returncode == 0
    shown = cli(proxy, "status")
    assert shown.returncode == 0 and "phase            canary" in shown.stdout
    assert "guard            armed" in shown.stdout
    unauthorised = cli(proxy, "status", token=None)
    assert unauthorised.returncode == 2 and "unauthorized" in unauthorised.stderr


def test_cutover_and_finalize_through_the_api(proxy: ProxyProcess) -> None:
    proxy.wait_caught_up()
    # The shared Chroma holds collections this proxy never copied (coverage check,
    # tests/cutover/test_cutover_preconditions_e2e.py): the operator forces it here.
    status, body = admin(proxy, "POST", "/admin/cutover", {"force": True})
    assert status == 200 and body["to"] == "cutover"
    status, body = admin(proxy, "POST", "/admin/phase", {"phase": "canary"})
    assert status == 409 and "rollback" in body["error"]
    status, body = admin(proxy, "POST", "/admin/finalize")
    assert status == 200 and proxy.status()["phase"] == "finalized"
    status, _ = admin(proxy, "POST", "/admin/canary", {"percent": 101})
    assert status == 400


def test_invalid_reload_leaves_the_running_config(proxy: ProxyProcess) -> None:
    rewrite_config(proxy, canary={"percent": 250}, reload={"watch_seconds": 0.3})
    status, body = admin(proxy, "POST", "/admin/reload")
    assert status == 400 and "canary.percent" in body["error"]
    proxy.process.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
    time.sleep(1.0)  # let the SIGHUP and the file watcher both see the bad file
    status_doc = proxy.status()
    assert status_doc["canary"]["percent"] == 10
    assert status_doc["reload"]["last"]["ok"] is False
    assert "canary.percent" in status_doc["reload"]["last"]["error"]
    assert "rejected" in proxy.log_path.read_text()


def test_file_change_reloads_without_a_signal(proxy: ProxyProcess) -> None:
    rewrite_config(proxy, canary={"percent": 33})
    wait_for(lambda: proxy.status()["canary"]["percent"] == 33)
    assert proxy.status()["reload"]["last"]["source"] == "file"


def test_sighup_changes_canary_under_load_without_failures(
    proxy: ProxyProcess, unique_name: str
) -> None:
    vectors = seed(proxy, unique_name)
    with Load(proxy, unique_name, vectors) as load:
        wait_for(lambda: load.ok > 50)
        for percent in (25, 50, 5):
            rewrite_config(proxy, canary={"percent": percent}, reload={"watch_seconds": None})
            proxy.process.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
            wait_for(lambda p=percent: proxy.status()["canary"]["active_percent"] == p)
            before = load.ok
            wait_for(lambda b=before: load.ok > b + 20)
    assert load.failed == [], load.failed[:5]
    assert load.ok > 100
    assert proxy.status()["reload"]["last"]["source"] == "sighup"


def test_phase_and_canary_survive_a_restart(proxy: ProxyProcess) -> None:
    assert admin(proxy, "POST", "/admin/canary", {"percent": 42})[0] == 200
    assert admin(proxy, "POST", "/admin/shadow", {"sample_rate": 0.25})[0] == 200
    proxy.stop()
    proxy.start()
    status = proxy.status()
    assert status["phase"] == "canary" and status["canary"]["percent"] == 42
    assert status["shadow_sampling"]["sample_rate"] == 0.25
    assert "vecbridge_canary_percent 42.0" in proxy.get_text("/metrics")
