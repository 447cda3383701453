"""The state of the migration as one JSON document, in two views.

``GET /admin/status`` (admin port, behind the token) returns the whole document:
:func:`build_status`. ``GET /-/status`` on the app port, which anyone who reaches the
app can read, returns :func:`public_view` of it: phase, journal (length, lag in entries
and seconds, applied position), dead letters, health of both stores, backfill progress
and the shadow/canary/guard/cutover summary, without the operator's details (reasons
typed with phase changes, the config file path, guard measurements and thresholds, ramp
notes, webhook counters, validation summaries).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from proxy import __version__
from proxy.journal.journal import SOURCE, TARGET, JournalStats, stored_entries
from proxy.ops.background_runs import backfill_progress

if TYPE_CHECKING:
    from proxy.ops.running import Proxy

# Top-level blocks of the public view, passed through whole.
_PUBLIC_BLOCKS = ("version", "phase", "uptime_seconds", "journal", "dead_letters", "backfill",
                  "source", "target", "shadow_reads", "shadow_sampling", "cutover")
# Blocks of which only some fields are public.
_PUBLIC_FIELDS: dict[str, tuple[str, ...]] = {
    "canary": ("percent", "active_percent", "serving_percent"),
    "guard": ("enabled", "tripped"),
    "last_validation": ("ok", "at"),
}
_PUBLIC_TRIP = ("reason", "phase", "at")
_PUBLIC_TRANSITION = ("from_phase", "to_phase", "forced", "at")
_PUBLIC_RELOAD = ("ok", "source", "error", "at")


def _journal_block(stats: JournalStats, stored: Mapping[str, int]) -> dict[str, Any]:
    """Forward direction at the top, the reverse one (cutover) under ``reverse``;
    ``length`` is what the file holds, ``lag_entries`` what is not applied yet."""
    return {
        "head": stats.head,
        "applied_position": stats.applied,
        "length": stored.get(TARGET, 0),
        "lag_entries": stats.lag_entries,
        "lag_seconds": round(stats.lag_seconds, 3),
        "pending_intents": stats.pending_intents,
        "dead_letters": stats.dead_letters,
        "reverse": {
            "head": stats.reverse.head,
            "applied_position": stats.reverse.applied,
            "length": stored.get(SOURCE, 0),
            "lag_entries": stats.reverse.lag_entries,
            "lag_seconds": round(stats.reverse.lag_seconds, 3),
        },
    }


async def build_status(proxy: Proxy) -> dict[str, Any]:
    """The whole status document (the admin API's)."""
    stats = await proxy.journal.stats()
    stored = await asyncio.to_thread(stored_entries, proxy.journal.path)
    dead = await proxy.journal.dead_letters(limit=20)
    target = proxy.config.target
    status = {
        "version": __version__,
        "phase": proxy.phases.current.value,
        "uptime_seconds": round(time.time() - proxy.started_at, 3),
        "journal": _journal_block(stats, stored),
        "dead_letters": [d.__dict__ for d in dead],
        "backfill": backfill_progress(proxy),
        "source": {
            "engine": proxy.config.source.engine,
            "url": proxy.source_url,
            "healthy": proxy.health.source.healthy,
            "error": proxy.health.source.error,
        },
        "target": {
            "engine": target.engine,
            "url": target.url,
            "path": None if target.url else str(target.path),
            "healthy": proxy.health.target.healthy,
            "error": proxy.health.target.error,
        },
    }
    shadow = proxy.reads.snapshot()  # totals here; the worst mismatches at GET /-/shadow
    status["shadow_reads"] = {k: v for k, v in shadow.items() if k != "worst"}
    # canary, shadow_sampling, guard, ramp, phase_history, last_validation, reload, webhooks
    status.update(proxy.control.status())
    status["cutover"] = await proxy.cutover.status()
    return status


def _pick(block: Any, fields: tuple[str, ...]) -> Any:
    if not isinstance(block, Mapping):
        return block  # None (nothing recorded yet) stays None
    return {k: block[k] for k in fields if k in block}


def public_view(status: Mapping[str, Any]) -> dict[str, Any]:
    """The app port's ``/-/status``: :func:`build_status` without the operator's details."""
    view = {k: status[k] for k in _PUBLIC_BLOCKS if k in status}
    for block, fields in _PUBLIC_FIELDS.items():
        if block in status:
            view[block] = _pick(status[block], fields)
    if isinstance(view.get("guard"), dict):
        view["guard"]["trip"] = _pick(status["guard"].get("trip"), _PUBLIC_TRIP)
    if "phase_history" in status:
        view["phase_history"] = [_pick(t, _PUBLIC_TRANSITION) for t in status["phase_history"]]
    if isinstance(status.get("reload"), Mapping):
        view["reload"] = {"last": _pick(status["reload"].get("last"), _PUBLIC_RELOAD)}
    return view


async def build_public_status(proxy: Proxy) -> dict[str, Any]:
    """The document of ``GET /-/status`` on the app port."""
    return public_view(await build_status(proxy))
