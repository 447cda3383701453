"""Settings that change while the proxy runs: canary share, shadow sample rate, guard state.

The read path looks at :attr:`LiveSettings.values` on every request: a frozen snapshot
swapped atomically, so a request sees one consistent set and costs no I/O. The values
are persisted in the :class:`~proxy.core.state.StateStore`, so a restart or a second replica
reading the same state agrees; :meth:`LiveSettings.run` re-reads them every second to
pick up another replica's change.

Precedence: the persisted value wins at start-up (a restart keeps what the operator
set); the config only seeds a fresh state, and a config *change* (hot reload) is applied
like an operator action.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace

from proxy.core.config import Config, Phase
from proxy.core.events import EventBus, LiveChanged
from proxy.core.phases import PHASE_KEY
from proxy.core.state import StateStore

log = logging.getLogger("vecbridge.live")

CANARY_KEY = "live.canary_percent"
SHADOW_KEY = "live.shadow_sample_rate"
GUARD_KEY = "guard"

# Shadow reads compare the two stores; after finalize the old one is no longer written.
_SHADOW_PHASES = frozenset({Phase.SHADOW, Phase.CANARY, Phase.CUTOVER})


@dataclass(frozen=True)
class LiveValues:
    """One consistent snapshot of the runtime settings."""

    phase: Phase
    canary_percent: float
    shadow_sample_rate: float
    sticky_header: str | None
    guard_tripped: bool

    @property
    def canary_active_percent(self) -> float:
        """Share (0..100) of reads to route to the new store as canary right now."""
        if self.phase is not Phase.CANARY or self.guard_tripped:
            return 0.0
        return self.canary_percent

    @property
    def shadow_active_rate(self) -> float:
        """Share (0..1) of reads to mirror as shadow right now."""
        return self.shadow_sample_rate if self.phase in _SHADOW_PHASES else 0.0


class LiveSettings:
    """The live values, persisted and shared; see the module docstring."""

    def __init__(self, state: StateStore, config: Config, events: EventBus) -> None:
        self._state = state
        self._events = events
        if state.get(CANARY_KEY) is None:
            state.put(CANARY_KEY, config.canary.percent)
        if state.get(SHADOW_KEY) is None:
            state.put(SHADOW_KEY, config.shadow.sample_rate)
        self._sticky_header = config.canary.sticky_header
        self._values = self._read()

    @property
    def values(self) -> LiveValues:
        """The snapshot in force (never blocks)."""
        return self._values

    def set_canary(self, percent: float, source: str) -> LiveValues:
        """Persist a new canary share (0..100) and apply it at once."""
        if not 0.0 <= percent <= 100.0:
            raise ValueError("canary percent must be within 0..100")
        self._state.put(CANARY_KEY, float(percent))
        return self.refresh(source)

    def set_shadow_sample_rate(self, rate: float, source: str) -> LiveValues:
        """Persist a new shadow sample rate (0..1) and apply it at once."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("shadow sample rate must be within 0..1")
        self._state.put(SHADOW_KEY, float(rate))
        return self.refresh(source)

    def set_sticky_header(self, header: str | None) -> None:
        """Config-only (not persisted): every replica reads it from its config."""
        self._sticky_header = header
        self._values = replace(self._values, sticky_header=header)

    def refresh(self, source: str = "state") -> LiveValues:
        """Re-read the persisted values; emits LiveChanged when the shares moved."""
        before = self._values
        self._values = after = self._read()
        if _routing(before) != _routing(after) or source != "state":
            self._events.emit(
                LiveChanged(
                    after.canary_active_percent,
                    after.shadow_active_rate,
                    after.guard_tripped,
                    source,
                )
            )
        return after

    async def run(self, interval: float = 1.0) -> None:
        """Pick up changes made by other replicas or the CLI."""
        while True:
            await asyncio.sleep(interval)
            try:
                self.refresh()
            except Exception:
                log.exception("could not re-read live settings; keeping the last ones")

    def _read(self) -> LiveValues:
        guard = self._state.get(GUARD_KEY) or {}
        return LiveValues(
            phase=Phase(self._state.get(PHASE_KEY, Phase.PASSTHROUGH.value)),
            canary_percent=float(self._state.get(CANARY_KEY, 0.0)),
            shadow_sample_rate=float(self._state.get(SHADOW_KEY, 0.0)),
            sticky_header=self._sticky_header,
            guard_tripped=bool(guard.get("tripped", False)),
        )


def _routing(values: LiveValues) -> tuple[float, float, bool]:
    return (values.canary_active_percent, values.shadow_active_rate, values.guard_tripped)
