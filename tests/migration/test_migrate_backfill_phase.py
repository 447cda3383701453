"""A backfill while the running proxy is in passthrough would say "done" and then drift
(writes after it are not mirrored): the CLI and the admin route refuse it. With no
proxy running, the copy is allowed."""

from __future__ import annotations

from pathlib import Path

import orjson
from harness import ProxyProcess, json_call, proxy_config, qdrant_rows
from migrate_support import cli, cli_json, seed

from proxy.upstream.embedded_chroma import EmbeddedChroma, free_port


def _post(url: str, body: object) -> tuple[int, dict[str, str]]:
    status, answer = json_call(url, "POST", orjson.dumps(body))
    return status, answer


def test_backfill_refused_in_passthrough_allowed_offline(
    chroma_server: EmbeddedChroma, unique_name: str, tmp_path: Path
) -> None:
    seed(chroma_server.url, unique_name, 200, 8)
    config = proxy_config(tmp_path, chroma_server.url, free_port(),
                          migration={"initial_phase": "passthrough"})
    proxy = ProxyProcess(tmp_path, config).start()
    path = str(proxy.config_path)
    try:
        done = cli("backfill", "--config", path, "--collections", unique_name)
        assert done.returncode == 1, done.stdout + done.stderr
        assert len(done.stderr.splitlines()) == 1, done.stderr
        assert "passthrough" in done.stderr and "vecbridge phase mirror" in done.stderr
        assert "backfill done" not in done.stdout
        # the admin route itself refuses too (for callers other than the CLI)
        admin = f"http://127.0.0.1:{config['admin']['port']}/admin/backfill"
        status, body = _post(admin, {"collections": [unique_name]})
        assert status == 409 and "vecbridge phase mirror" in body["error"], body
        assert proxy.status()["backfill"]["collections"] == []  # nothing started
    finally:
        proxy.stop()
    # offline: nothing writes through a proxy, so the copy cannot drift behind its back
    code, result = cli_json("backfill", "--config", path, "--collections", unique_name)
    assert code == 0 and result["passed"], result
    assert len(qdrant_rows(tmp_path / "qdrant", unique_name)) == 200
