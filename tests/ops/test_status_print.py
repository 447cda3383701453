"""`vecbridge status` (human form): the lines an operator watches in each phase."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.cli.control_verbs import print_status
from proxy.cli.status_print import print_store_status as _print_status


def _status(phase: str, reverse_head: int, compared: int) -> dict[str, Any]:
    side = {"engine": "chroma", "url": "http://127.0.0.1:1", "healthy": True}
    return {
        "phase": phase, "source": side, "target": {**side, "engine": "qdrant"},
        "journal": {
            "head": 40, "applied_position": 38, "lag_entries": 2, "lag_seconds": 0.5,
            "dead_letters": 0,
            "reverse": {"head": reverse_head, "lag_entries": 7, "lag_seconds": 1.25},
        },
        "shadow_reads": {"enabled": True, "compared": compared, "dropped": 3,
                         "mean_recall": 0.98765 if compared else None},
    }  # fmt: skip


def test_cutover_shows_the_reverse_lag_and_shadow_totals(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _print_status(_status("cutover", reverse_head=12, compared=250))
    out = capsys.readouterr().out
    assert "reverse lag      7 entries, 1.25 s" in out
    assert "shadow reads     250 compared, 3 dropped, mean recall 0.988" in out


def test_before_cutover_no_reverse_line_and_no_empty_shadow(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _print_status(_status("mirror", reverse_head=0, compared=0))
    out = capsys.readouterr().out
    assert "journal lag      2 entries, 0.5 s" in out
    assert "reverse lag" not in out and "shadow reads" not in out


def test_after_finalize_routing_is_what_the_new_store_serves(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = _status("finalized", reverse_head=0, compared=0)
    status["canary"] = {"percent": 10.0, "active_percent": 0.0, "serving_percent": 100.0}
    print_status(status)
    assert "canary           10.0% (routing 100.0%)" in capsys.readouterr().out
