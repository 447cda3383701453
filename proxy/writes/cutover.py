"""The cutover write path: which store takes a write, and the phase moves around cutover.

Before cutover every write goes through the forward pipeline (proxy/writes/pipeline.py: the old
store is primary, the journal feeds the new one). In ``cutover`` the new store is primary:
record writes are answered by it with Chroma's semantics and journaled for the old store
(destination ``source``), which a second applier (the *reverse* applier, cursor
``reverse_applier``) replays there, so a rollback loses nothing. In ``finalized`` the old
store no longer receives record writes (nothing is journaled for it). Collection-level
writes go to the old store first in ``cutover`` (proxy/dialects/chroma/cutover_collections.py); in
``finalized`` the new store answers create / modify / delete collection itself
(proxy/dialects/chroma/finalized_collections.py) and the proxy creates and deletes tenants
and databases
(proxy/dialects/chroma/finalized_service.py): nothing reaches the old store.

The phase switch is a barrier. Every write holds the *gate* shared while it runs; a move
into or out of cutover takes it exclusively, so no write straddles the switch, and drains
the journal of the store that stops being secondary:

* into cutover: the forward journal (lag 0, no open intents) before the new store answers,
  so a late forward entry can never overwrite a cutover write;
* rollback (cutover -> shadow): the reverse journal, so the old store holds every write the
  new one accepted before it becomes primary again. If the old store is down, or does not
  catch up within ``drain_timeout`` (``migration.drain_timeout_seconds``), the rollback is
  refused with the reason, unless forced (``POST /admin/cutover/rollback {"force": true}``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

from multidict import CIMultiDict

from adapters.chroma import ChromaStore
from proxy.core.config import Phase
from proxy.core.phases import NEW_STORE_PRIMARY, IllegalTransition, Phases
from proxy.dialects.chroma.cutover_collections import CutoverCollections
from proxy.dialects.chroma.cutover_records import CutoverRecords
from proxy.dialects.chroma.finalized_collections import FinalizedCollections
from proxy.dialects.chroma.finalized_service import FinalizedService
from proxy.dialects.chroma.routes import Route, is_record_write
from proxy.journal.applier import Applier
from proxy.journal.journal import Journal
from proxy.journal.locks import SharedExclusiveLock
from proxy.upstream.forwarder import UpstreamResponse, UpstreamUnavailable

log = logging.getLogger("vecbridge.cutover")

WriteHandler = Callable[
    [Route, str, str, CIMultiDict[str], bytes], Awaitable[UpstreamResponse]
]
POLL_SECONDS = 0.05
GATE_HOLD_MAX = 120.0  # a hold whose after-hook never came (another hook refused) ends


class CutoverWrites:
    """Routes every app write by phase and guards the switch; see the module docstring."""

    def __init__(
        self, phases: Phases, forward: WriteHandler, records: CutoverRecords,
        journal: Journal, reverse: Applier, old_store: ChromaStore,
        drain_timeout: float = 30.0,
    ) -> None:  # fmt: skip
        self._phases = phases
        self._forward = forward
        self.records = records
        self.collections: CutoverCollections | None = None  # set by install_cutover
        self.finalized: FinalizedCollections | None = None  # set by install_cutover
        self.service: FinalizedService | None = None  # set by install_cutover
        self._journal = journal
        self.reverse = reverse
        self.old_store = old_store
        self.drain_timeout = drain_timeout
        self.gate = SharedExclusiveLock()
        self.force_rollback = False
        self.force_finalize = False  # set by POST /admin/finalize {"force": true}
        self._held: AsyncExitStack | None = None
        self._hold_timer: asyncio.TimerHandle | None = None
        self.last_refusal: str | None = None

    async def handle(
        self, route: Route, method: str, path_qs: str, headers: CIMultiDict[str], body: bytes
    ) -> UpstreamResponse:
        """One app write, sent down the path of the phase in force."""
        async with self.gate.shared():
            phase = self._phases.current
            if phase not in NEW_STORE_PRIMARY:
                return await self._forward(route, method, path_qs, headers, body)
            journal_source = phase is Phase.CUTOVER
            if is_record_write(route):
                return await self.records.handle(route, body, journal_source)
            if not journal_source and self.finalized and self.finalized.answers(route):
                return await self.finalized.handle(route, method, path_qs, headers, body)
            if not journal_source and self.service and self.service.takes_write(route):
                return await self.service.handle(route, method, path_qs, headers, body, phase)
            assert self.collections is not None
            return await self.collections.handle(route, method, path_qs, headers, body)

    # -- phase moves (Controller hooks) -------------------------------------------------

    async def before(self, current: Phase, target: Phase) -> None:
        """Refuse or prepare a move; holds the gate until :meth:`after` when it prepares."""
        if target is Phase.CUTOVER and current is not Phase.CUTOVER:
            await self._switch(self._forward_drained, "the new store has not applied the "
                               "forward journal yet; cutover refused", force=False)  # fmt: skip
        elif current is Phase.CUTOVER and target is not Phase.FINALIZED:
            await self._check_old_store()
            await self._switch(self._reverse_drained, "the old store has not caught up with "
                               "the writes accepted in cutover; rollback refused",
                               force=self.force_rollback)  # fmt: skip
        elif current is Phase.CUTOVER and target is Phase.FINALIZED:
            if self.force_finalize:  # the old store gets what it lacks later, if ever
                await self._hold()
                return
            await self._check_finalize()
            await self._switch(self._reverse_drained, "the old store has not caught up with "
                               "the writes accepted in cutover; finalize refused (it would "
                               "stay without them: finalize --force to accept)",
                               force=False)  # fmt: skip

    async def after(self, current: Phase, target: Phase) -> None:
        """The new phase is in force: let writes through again."""
        await self._release()

    async def _switch(self, drained: Callable[[], Awaitable[str | None]], refusal: str,
                      force: bool) -> None:  # fmt: skip
        await self._wait(drained, self.drain_timeout)  # without blocking writes first
        await self._hold()
        left = await self._wait(drained, self.drain_timeout)
        if left is None:
            return
        if force:
            log.warning("forced move with %s; the old store will get them later", left)
            return
        await self._release()
        self.last_refusal = f"{refusal} ({left})"
        raise IllegalTransition(self.last_refusal)

    async def _check_finalize(self) -> None:
        """Refuse at once (not after the drain timeout) a finalize the old store cannot
        catch up with: entries still journaled for it while it does not answer."""
        if await self._reverse_drained() is None:
            return
        if await self.old_store.health():
            return
        self.last_refusal = ("the old store is unreachable and has not caught up with the "
                             "writes accepted in cutover; finalize refused (finalize --force "
                             "to leave it without them)")  # fmt: skip
        raise IllegalTransition(self.last_refusal)

    async def _check_old_store(self) -> None:
        if self.force_rollback or await self.old_store.health():
            return
        self.last_refusal = ("the old store is unreachable: rolling back would make it primary "
                             "and it could not receive the writes accepted in cutover; "
                             "rollback refused (force to override)")  # fmt: skip
        raise IllegalTransition(self.last_refusal)

    async def _wait(self, drained: Callable[[], Awaitable[str | None]],
                    timeout: float) -> str | None:  # fmt: skip
        """None once ``drained`` says nothing is left, else what was left at the timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = await drained()
            if left is None or time.monotonic() >= deadline:
                return left
            await asyncio.sleep(POLL_SECONDS)

    async def _forward_drained(self) -> str | None:
        stats = await self._journal.stats()
        if stats.lag_entries or stats.pending_intents:
            return f"{stats.lag_entries} entries, {stats.pending_intents} open intents"
        return None

    async def _reverse_drained(self) -> str | None:
        stats = await self._journal.stats()
        open_intents = await self.records.pending()
        if stats.reverse.lag_entries or open_intents:
            return f"{stats.reverse.lag_entries} reverse entries, {open_intents} open intents"
        return None

    async def drain_reverse(self) -> None:
        """Wait until the old store applied every entry journaled for it so far."""
        head = (await self._journal.stats()).reverse.head
        deadline = time.monotonic() + self.drain_timeout
        while (await self._journal.stats()).reverse.applied < head:
            if time.monotonic() >= deadline:
                raise UpstreamUnavailable("the old store has not caught up with cutover writes")
            await asyncio.sleep(POLL_SECONDS)

    async def _hold(self) -> None:
        if self._held is not None:
            return
        stack = AsyncExitStack()
        await stack.enter_async_context(self.gate.exclusive())
        self._held = stack
        loop = asyncio.get_running_loop()
        self._hold_timer = loop.call_later(GATE_HOLD_MAX, lambda: loop.create_task(self._release()))

    async def _release(self) -> None:
        held, self._held = self._held, None
        if self._hold_timer is not None:
            self._hold_timer.cancel()
            self._hold_timer = None
        if held is not None:
            await held.aclose()

    # -- background work ------------------------------------------------------------------

    async def recover_loop(self, interval: float = 5.0) -> None:
        """Journal for the old store what failed cutover writes left behind."""
        while True:
            try:
                await self.records.recover()
            except Exception:
                log.exception("cutover intent recovery failed; will retry")
            await asyncio.sleep(interval)

    async def status(self) -> dict[str, Any]:
        """The ``cutover`` block of the status page."""
        stats = (await self._journal.stats()).reverse
        return {
            "new_store_primary": self._phases.current in NEW_STORE_PRIMARY,
            "reverse": {
                "head": stats.head,
                "applied_position": stats.applied,
                "lag_entries": stats.lag_entries,
                "lag_seconds": round(stats.lag_seconds, 3),
                "open_intents": await self.records.pending(),
                "old_store_healthy": self.reverse.target_healthy,
            },
            "last_refusal": self.last_refusal,
        }

    async def close(self) -> None:
        await self._release()
        await self.old_store.close()
