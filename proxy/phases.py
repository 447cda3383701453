"""The migration's phase: persisted, with only the legal transitions allowed.

passthrough -> mirror -> shadow -> canary -> cutover -> finalized; rollback goes back to
shadow from canary or cutover. Forward skips are allowed (mirror -> canary) as long as
they never skip mirror, because every later phase relies on dual-write being on.
"""

from __future__ import annotations

from proxy.config import Phase
from proxy.state import StateStore

ORDER = [Phase.PASSTHROUGH, Phase.MIRROR, Phase.SHADOW, Phase.CANARY, Phase.CUTOVER, Phase.FINALIZED]
PHASE_KEY = "phase"


class IllegalTransition(ValueError):
    """The requested phase change is not allowed from the current phase."""


def check_transition(current: Phase, target: Phase) -> None:
    """Raise IllegalTransition with the reason when current -> target is not allowed."""
    if current == target:
        return
    if current is Phase.FINALIZED:
        raise IllegalTransition("the migration is finalized: the old store is no longer written")
    here, there = ORDER.index(current), ORDER.index(target)
    if target is Phase.PASSTHROUGH and current is not Phase.MIRROR:
        raise IllegalTransition(f"cannot return to passthrough from {current}: roll back first")
    if there < here and target is not Phase.SHADOW and target is not Phase.PASSTHROUGH:
        if not (current is Phase.CANARY and target is Phase.MIRROR):
            raise IllegalTransition(f"cannot go back from {current} to {target}; use rollback")
    if there > here and current is Phase.PASSTHROUGH and target is not Phase.MIRROR:
        raise IllegalTransition("start dual-write first: passthrough -> mirror")
    if target is Phase.FINALIZED and current is not Phase.CUTOVER:
        raise IllegalTransition("finalize is only possible from cutover")


class Phases:
    """Reads and changes the persisted phase."""

    def __init__(self, state: StateStore, initial: Phase) -> None:
        self._state = state
        if state.get(PHASE_KEY) is None:
            state.put(PHASE_KEY, initial.value)

    @property
    def current(self) -> Phase:
        return Phase(self._state.get(PHASE_KEY))

    def move_to(self, target: Phase, force: bool = False) -> Phase:
        """Persist the new phase (checked unless forced); returns the previous one."""
        previous = self.current
        if not force:
            check_transition(previous, target)
        self._state.put(PHASE_KEY, target.value)
        return previous

    @property
    def dual_write(self) -> bool:
        return self.current in (Phase.MIRROR, Phase.SHADOW, Phase.CANARY, Phase.CUTOVER)
