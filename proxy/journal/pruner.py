"""Journal retention: applied entries older than the retention window are deleted.

Without pruning the journal grows with every write for as long as the proxy runs.
An entry may go once its own applier has applied it (the forward applier for
``target`` entries, the reverse applier for ``source`` ones) and it is more than
``journal.retain_applied`` positions behind that applier's checkpoint. The window is
kept for the backfill: its catch-up replays the journal from the position where its
copy began, so the entries after every unfinished backfill checkpoint are kept too,
whatever the window says (a backfill paused for a week does not lose its catch-up).

The backfill's floor comes from a callable the composition root passes in
(:func:`proxy.migration.backfill_state.backfill_floor`), so the journal knows nothing of
the backfill's files.

Deletes run in chunks on the journal's own thread, between group commits, so a large
first prune never holds up the write path for long. Freed pages go back to the file
system where the database allows it (``auto_vacuum=INCREMENTAL``, set on new journals).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from proxy.core.events import EventBus, JournalPruned
from proxy.journal.journal import APPLIER_CURSOR, REVERSE_CURSOR, SOURCE, TARGET, Journal

log = logging.getLogger("vecbridge.journal")

INTERVAL_SECONDS = 30.0
_CURSOR_OF = {TARGET: APPLIER_CURSOR, SOURCE: REVERSE_CURSOR}


class JournalPruner:
    """Deletes applied entries beyond the retention window; see the module docstring."""

    def __init__(
        self,
        journal: Journal,
        retain_applied: int,
        events: EventBus,
        backfill_floor: Callable[[], int | None] = lambda: None,
    ) -> None:
        self._journal = journal
        self._retain = retain_applied
        self._events = events
        self._backfill_floor = backfill_floor

    async def prune_once(self) -> int:
        """Prune both destinations now; returns the number of entries deleted."""
        deleted, highest = 0, 0
        backfill_floor = await asyncio.to_thread(self._backfill_floor)
        for destination, cursor in _CURSOR_OF.items():
            through = await self._journal.cursor(cursor) - self._retain
            if destination == TARGET and backfill_floor is not None:
                through = min(through, backfill_floor)
            if through <= 0:
                continue
            gone = await self._journal.prune(destination, through)
            if gone:
                deleted += gone
                highest = max(highest, through)
        if deleted:
            await self._journal.release_free_pages()
            self._events.emit(JournalPruned(deleted, highest))
            log.info("journal: pruned %d applied entries (through seq %d)", deleted, highest)
        return deleted

    async def run(self, interval: float = INTERVAL_SECONDS) -> None:
        while True:
            try:
                await self.prune_once()
            except Exception:
                log.exception("journal pruning failed; will retry")
            await asyncio.sleep(interval)
