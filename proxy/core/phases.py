"""The migration's phase: persisted, with only the legal transitions allowed.

passthrough -> mirror -> shadow -> canary -> cutover -> finalized; rollback goes back to
shadow from canary or cutover. Forward skips are allowed (mirror -> canary) as long as
they never skip mirror, because every later phase relies on dual-write being on, and
finalize is only reachable from cutover. Stepping back is allowed down to mirror before
cutover; from cutover the only ways are rollback (shadow) and finalize.

Every read goes to the state file, so two :class:`Phases` on one file (a restart, a
second replica, the CLI) agree. The last transitions and the last validation result
are kept next to the phase.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from proxy.core.config import Phase
from proxy.core.state import StateStore

ORDER = list(Phase)  # passthrough .. finalized, in migration order
PHASE_KEY = "phase"
HISTORY_KEY = "phase.history"
VALIDATION_KEY = "validation.last"
HISTORY_KEPT = 50
ROLLBACK_FROM = frozenset({Phase.CANARY, Phase.CUTOVER})
# The new store is the primary: it answers every read and write it can.
NEW_STORE_PRIMARY = frozenset({Phase.CUTOVER, Phase.FINALIZED})


class IllegalTransition(ValueError):
    """The requested phase change is not allowed from the current phase."""


def check_transition(current: Phase, target: Phase) -> None:
    """Raise IllegalTransition with the reason when current -> target is not allowed."""
    if current == target:
        return
    if current is Phase.FINALIZED:
        raise IllegalTransition("the migration is finalized: the old store is no longer written")
    if target is Phase.FINALIZED and current is not Phase.CUTOVER:
        raise IllegalTransition(f"finalize is only possible from cutover (phase is {current})")
    if current is Phase.PASSTHROUGH and target is not Phase.MIRROR:
        raise IllegalTransition("start dual-write first: passthrough -> mirror")
    if target is Phase.PASSTHROUGH and current is not Phase.MIRROR:
        raise IllegalTransition(f"cannot return to passthrough from {current}: go to mirror first")
    if current is Phase.CUTOVER and target not in (Phase.SHADOW, Phase.FINALIZED):
        raise IllegalTransition(f"from cutover only rollback (shadow) or finalize; not {target}")


def check_cutover(
    lag_entries: int, pending_intents: int, validation: dict[str, Any] | None
) -> None:
    """Raise IllegalTransition when cutover would be unsafe (lag, failed validation)."""
    if lag_entries or pending_intents:
        raise IllegalTransition(
            f"journal lag is {lag_entries} entries ({pending_intents} writes in flight): "
            "wait until the new store has caught up, or force"
        )
    if validation is not None and not validation.get("ok", False):
        summary = validation.get("summary") or "see the validation report"
        raise IllegalTransition(f"the last validation failed ({summary}): repair, or force")


@dataclass(frozen=True)
class Transition:
    """One recorded phase change."""

    from_phase: str
    to_phase: str
    reason: str
    forced: bool
    at: float


class Phases:
    """Reads and changes the persisted phase."""

    def __init__(self, state: StateStore, initial: Phase) -> None:
        self._state = state
        if state.get(PHASE_KEY) is None:
            state.put(PHASE_KEY, initial.value)

    @property
    def current(self) -> Phase:
        return Phase(self._state.get(PHASE_KEY))

    def move_to(self, target: Phase, force: bool = False, reason: str = "operator") -> Phase:
        """Persist the new phase (checked unless forced); returns the previous one."""
        previous = self.current
        if not force:
            check_transition(previous, target)
        if previous == target:
            return previous
        self._state.put(PHASE_KEY, target.value)
        record = Transition(previous.value, target.value, reason, force, time.time())
        kept = list(self._state.get(HISTORY_KEY, []))[-(HISTORY_KEPT - 1) :]
        self._state.put(HISTORY_KEY, [*kept, asdict(record)])
        return previous

    def history(self, limit: int = 10) -> list[Transition]:
        """The last ``limit`` transitions, oldest first."""
        rows = list(self._state.get(HISTORY_KEY, []))[-limit:] if limit > 0 else []
        return [Transition(**row) for row in rows]

    @property
    def dual_write(self) -> bool:
        return self.current in (Phase.MIRROR, Phase.SHADOW, Phase.CANARY, Phase.CUTOVER)


def record_validation(state: StateStore, ok: bool, summary: str) -> None:
    """Remember the outcome of a validation run (cutover refuses after a failed one)."""
    state.put(VALIDATION_KEY, {"ok": ok, "summary": summary, "at": time.time()})


def last_validation(state: StateStore) -> dict[str, Any] | None:
    """The last recorded validation outcome, or None when none ran."""
    value = state.get(VALIDATION_KEY)
    return value if isinstance(value, dict) else None
