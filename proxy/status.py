"""``GET /-/status``: the state of the migration as one JSON document."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from proxy import __version__
from proxy.backfill import backfill_progress

if TYPE_CHECKING:
    from proxy.server import Proxy


async def build_status(proxy: Proxy) -> dict[str, Any]:
    stats = await proxy.journal.stats()
    dead = await proxy.journal.dead_letters(limit=20)
    target = proxy.config.target
    status = {
        "version": __version__,
        "phase": proxy.phases.current.value,
        "uptime_seconds": round(time.time() - proxy.started_at, 3),
        "journal": {
            "head": stats.head,
            "applied_position": stats.applied,
            "length": stats.lag_entries,
            "lag_entries": stats.lag_entries,
            "lag_seconds": round(stats.lag_seconds, 3),
            "pending_intents": stats.pending_intents,
            "dead_letters": stats.dead_letters,
            "reverse": {
                "head": stats.reverse.head,
                "applied_position": stats.reverse.applied,
                "lag_entries": stats.reverse.lag_entries,
                "lag_seconds": round(stats.reverse.lag_seconds, 3),
            },
        },
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
