"""With the proxy running on a local-mode target, backfill and validate go through its
admin API (the CLI cannot open the target itself) and report the same way."""

from __future__ import annotations

from pathlib import Path

from harness import ProxyProcess, proxy_config
from migrate_support import cli, cli_json, seed

from proxy.upstream.embedded_chroma import EmbeddedChroma, free_port


def test_cli_uses_the_running_proxy(
    chroma_server: EmbeddedChroma, unique_name: str, tmp_path: Path
) -> None:
    seed(chroma_server.url, unique_name, 1200, 16)
    config = proxy_config(tmp_path, chroma_server.url, free_port(),
                          admin={"port": free_port()}, validation={"queries": 5})
    proxy = ProxyProcess(tmp_path, config).start()
    try:
        path = str(proxy.config_path)
        code, result = cli_json("backfill", "--config", path, "--collections", unique_name)
        assert code == 0 and result["passed"], result
        assert result["collections"][0]["copied"] == 1200
        assert proxy.status()["backfill"]["collections"][0]["state"] == "done"
        metrics = proxy.get_text("/metrics")
        assert f'vecbridge_backfill_records_total{{collection="{unique_name}"}} 1200.0' in metrics
        assert f'vecbridge_backfill_progress_ratio{{collection="{unique_name}"}} 1.0' in metrics
        code, report = cli_json("validate", "--config", path, "--full",
                                "--collections", unique_name)
        assert code == 0 and report["passed"], report
        assert report["collections"][0]["compared"] == 1200
        done = cli("validate", "--config", path, "--collections", "no-such-collection")
        assert done.returncode == 2 and "no-such-collection" in done.stderr
    finally:
        proxy.stop()
