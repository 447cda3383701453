"""Helpers of the migration tests: seeding Chroma, running the CLI, reading the checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
import orjson
import yaml
from harness import REPO


def seed(url: str, name: str, count: int, dim: int, space: str = "l2", seed: int = 0) -> None:
    """``count`` records id-0.. with mixed metadata (ints, floats, lists) and documents."""
    host, port = url.removeprefix("http://").split(":")
    client = chromadb.HttpClient(host=host, port=int(port))
    col = client.create_collection(
        name, configuration={"hnsw": {"space": space}})  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    for start in range(0, count, 1000):
        ids = [f"id-{i}" for i in range(start, min(count, start + 1000))]
        metas: list[Any] = [{"bucket": i % 20, "score": i / 3, "tag": ["red", "blue"][i % 2],
                             "labels": ["x", "y"][: 1 + i % 2]} for i in range(len(ids))]
        col.add(ids=ids, embeddings=rng.normal(size=(len(ids), dim)).astype(np.float32),
                metadatas=metas, documents=[f"doc {i}" for i in ids])


def write_config(tmp: Path, config: dict[str, Any]) -> Path:
    path = tmp / "vecbridge.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``vecbridge ARGS`` as a child process (stdout/stderr captured)."""
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "proxy.cli", *args], capture_output=True,
                          text=True, cwd=cwd or REPO, env=env, timeout=600)


def cli_json(*args: str) -> tuple[int, Any]:
    done = cli(*args, "--json")
    try:
        return done.returncode, orjson.loads(done.stdout)
    except orjson.JSONDecodeError:
        raise AssertionError(f"no JSON from {args}: {done.stdout}\n{done.stderr}") from None


def checkpoint(journal_dir: Path) -> dict[str, Any]:
    path = journal_dir / "backfill.json"
    return orjson.loads(path.read_bytes()) if path.exists() else {}
