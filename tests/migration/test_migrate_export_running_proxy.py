"""Export and import open only the store they need: with a proxy running on a local-mode
target, exporting from Chroma works (a backup before the migration), and the verbs that
do need the target say that the proxy holds it."""

from __future__ import annotations

from pathlib import Path

import orjson
from harness import ProxyProcess, chroma_rows, proxy_config
from migrate_support import cli, cli_json, seed

from proxy.upstream.embedded_chroma import EmbeddedChroma, free_port


def test_export_from_source_next_to_a_running_proxy(
    chroma_server: EmbeddedChroma, unique_name: str, tmp_path: Path
) -> None:
    seed(chroma_server.url, unique_name, 300, 8)
    proxy = ProxyProcess(tmp_path, proxy_config(tmp_path, chroma_server.url, free_port())).start()
    try:
        config = str(proxy.config_path)
        out = tmp_path / "backup.jsonl"
        code, meta = cli_json("export", "--config", config, "--collection", unique_name,
                              "--out", str(out))
        assert code == 0 and meta["count"] == 300, meta
        exported = [orjson.loads(line) for line in out.read_bytes().splitlines()]
        assert sorted(r["id"] for r in exported) == sorted(f"id-{i}" for i in range(300))

        # import --into source needs only Chroma too
        copy = unique_name + "-copy"
        done = cli("import", "--config", config, "--file", str(out), "--into", "source",
                   "--collection", copy)
        assert done.returncode == 0, done.stderr
        assert sorted(chroma_rows(chroma_server.url, copy)) == sorted(r["id"] for r in exported)

        # the verbs that do need the target: one clear line, exit 2
        for verb in (["export", "--collection", unique_name, "--from", "target",
                      "--out", str(tmp_path / "t.jsonl")],
                     ["import", "--file", str(out), "--into", "target"]):
            done = cli(*verb, "--config", config)
            assert done.returncode == 2, (verb, done.stdout, done.stderr)
            assert "is held by a running proxy" in done.stderr, done.stderr
            assert "stop it first" in done.stderr and len(done.stderr.splitlines()) == 1
        assert not (tmp_path / "t.jsonl").exists()
        assert proxy.status()["source"]["healthy"]  # the proxy was not disturbed
    finally:
        proxy.stop()
