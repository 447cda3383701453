"""When a backfill may run: only while the proxy mirrors writes.

A backfill copies what the source holds now; writes made afterwards reach the new store
only through the journal, which is written from phase ``mirror`` on. A backfill in
``passthrough`` would report "done" and then drift silently with every write, so both
the admin route and the CLI refuse it while a running proxy is in that phase (a copy
with no proxy running is the operator's own business: nothing writes through it).
"""

from __future__ import annotations

from proxy.core.config import Phase


def backfill_refusal(phase: Phase | str) -> str | None:
    """Why a backfill must not start while a running proxy is in ``phase``; None if it may."""
    if str(phase) == Phase.PASSTHROUGH.value:
        return ("the proxy is in phase passthrough: writes made after the copy would not be "
                "mirrored and the copy would drift; switch to mirror first "
                "(vecbridge phase mirror), then run the backfill")
    return None
