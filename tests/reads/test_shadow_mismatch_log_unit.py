"""proxy/reads/mismatch_log.py: JSON lines, size cap, rotation, error throttling, failures."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import orjson
import pytest
from harness import REPO
from multidict import CIMultiDict

from proxy.core.config import ConfigError, ShadowConfig, load_config, parse_config
from proxy.core.events import EventBus
from proxy.dialects.chroma.routes import Kind, Route
from proxy.reads.mismatch_log import MAX_PENDING, MismatchLog
from proxy.reads.shadow import Answer, ShadowJob, ShadowReads

LINE_KEYS = {
    "time", "route", "collection", "collection_id", "category", "recall", "k",
    "rank_agreement", "max_distance_delta", "missing_ids", "extra_ids", "primary",
    "secondary", "primary_seconds", "secondary_seconds",
}  # fmt: skip


def _entry(n: int, category: str = "missing_ids") -> dict[str, Any]:
    return {"n": n, "category": category, "collection": "books", "missing_ids": [f"id-{n}"]}


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


async def test_lines_rotate_at_the_cap_and_keep_the_newest(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "mismatches.jsonl"  # the directory is created on first write
    mismatches = MismatchLog(path, max_bytes=4096)
    for n in range(120):
        mismatches.add(_entry(n))
        if n % 10 == 9:
            await mismatches.flush()
    old, new = _lines(path.with_name(path.name + ".1")), _lines(path)
    assert path.stat().st_size <= 4096
    assert path.with_name(path.name + ".1").stat().st_size <= 4096
    numbers = [line["n"] for line in old + new]
    assert numbers == list(range(numbers[0], 120))  # consecutive, newest last, none lost
    assert len(numbers) > 20 and mismatches.rotations >= 2
    assert mismatches.written == 120 and mismatches.errors == 0
    assert new[-1]["time"].endswith("Z") and new[-1]["missing_ids"] == ["id-119"]


async def test_errors_and_timeouts_are_logged_at_most_once_per_interval(tmp_path: Path) -> None:
    now = [0.0]
    path = tmp_path / "m.jsonl"
    mismatches = MismatchLog(path, max_bytes=1 << 20, error_interval=10.0, clock=lambda: now[0])
    for n in range(5):
        mismatches.add(_entry(n, "error"))
        mismatches.add(_entry(n, "timeout"))
        mismatches.add(_entry(n, "missing_ids"))  # disagreements are never throttled
    now[0] = 10.5
    mismatches.add(_entry(9, "error"))
    await mismatches.flush()
    lines = [(line["category"], line["n"], line.get("suppressed")) for line in _lines(path)]
    assert lines == [
        ("error", 0, 0), ("timeout", 0, 0),
        *[("missing_ids", n, None) for n in range(5)],
        ("error", 9, 4),
    ]  # fmt: skip
    assert mismatches.suppressed == 8


async def test_a_full_buffer_drops_and_counts(tmp_path: Path) -> None:
    mismatches = MismatchLog(tmp_path / "m.jsonl", max_bytes=1 << 24)
    for n in range(MAX_PENDING + 5):
        mismatches.add(_entry(n))
    assert mismatches.dropped == 5
    await mismatches.flush()
    assert mismatches.written == MAX_PENDING


async def test_an_unwritable_log_is_reported_once_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    mismatches = MismatchLog(blocker / "m.jsonl", max_bytes=4096)
    with caplog.at_level(logging.DEBUG, logger="vecbridge.shadow"):
        for n in range(3):
            mismatches.add(_entry(n))
            await mismatches.flush()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "not writable" in warnings[0].getMessage()
    assert mismatches.errors == 3 and mismatches.lost == 3 and mismatches.written == 0


ROUTE = Route("query", Kind.READ, "default_tenant", "default_database", "uuid-1")


def _answer(ids: list[str]) -> Answer:
    body = {"ids": [ids], "distances": [[0.1 * n for n in range(len(ids))]],
            "embeddings": [[[12345.5, 0.5]] * len(ids)], "documents": [["secret doc"] * len(ids)],
            "uris": None, "metadatas": [[{"owner": "secret"}] * len(ids)],
            "include": ["distances", "embeddings", "documents", "metadatas"]}  # fmt: skip
    return 200, orjson.dumps(body)


async def test_shadow_workers_log_mismatches_with_ids_only(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    config = ShadowConfig.model_validate({"mismatch_log": path, "concurrency": 2})

    async def secondary(job: ShadowJob) -> Answer:
        return _answer(["a", "x"]) if job.path_qs == "/differs" else job.answer

    shadow = ShadowReads(config, secondary, EventBus(), lambda _: "books")
    runner = asyncio.create_task(shadow.run())
    body = orjson.dumps({"query_embeddings": [[12345.5, 0.5]], "n_results": 2})
    for path_qs in ("/same", "/differs"):
        shadow.offer(ShadowJob(ROUTE, "POST", path_qs, CIMultiDict(), body, "source",
                               _answer(["a", "b"]), 0.01))  # fmt: skip
    await asyncio.wait_for(shadow.drain(), 5)
    assert shadow.mismatch_log is not None
    await shadow.mismatch_log.flush()
    runner.cancel()
    lines = _lines(path)
    assert len(lines) == 1  # the match is not logged
    line = lines[0]
    assert set(line) == LINE_KEYS
    assert line["category"] == "missing_ids" and line["recall"] == 0.5 and line["k"] == 2
    assert line["missing_ids"] == ["b"] and line["extra_ids"] == ["x"]
    assert line["collection"] == "books" and line["collection_id"] == "uuid-1"
    assert b"secret" not in path.read_bytes() and b"12345.5" not in path.read_bytes()
    assert shadow.snapshot()["mismatch_log"]["written"] == 1


def test_config_resolves_the_log_next_to_the_config_and_null_turns_it_off(
    tmp_path: Path,
) -> None:
    config_path = tmp_path / "etc" / "vecbridge.yaml"
    config_path.parent.mkdir()
    config_path.write_text("shadow: {mismatch_log: logs/m.jsonl, mismatch_log_max_bytes: 8192}\n")
    config = load_config(config_path, environ={})
    assert config.shadow.mismatch_log == tmp_path / "etc" / "logs" / "m.jsonl"
    assert config.shadow.mismatch_log_max_bytes == 8192
    off = load_config(config_path, environ={"VECBRIDGE_SHADOW__MISMATCH_LOG": "null"})
    assert off.shadow.mismatch_log is None
    assert parse_config({}).shadow.mismatch_log is None  # left out: off
    shipped = load_config(REPO / "config.yaml", environ={})
    assert shipped.shadow.mismatch_log == REPO / "data" / "shadow-mismatches.jsonl"
    with pytest.raises(ConfigError, match=r"shadow\.mismatch_log_max_bytes"):
        parse_config({"shadow": {"mismatch_log_max_bytes": 10}})
