"""Real control parts on a temporary state file and journal, with a fake clock."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxy.core.config import Config, Phase, load_config, parse_config
from proxy.core.events import EventBus
from proxy.core.live import LiveSettings
from proxy.core.phases import Phases
from proxy.core.state import StateStore
from proxy.journal.journal import Journal
from proxy.ops.control_plane import ControlPlane, build_control
from proxy.ops.metrics import Metrics


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Parts:
    config: Config
    state: StateStore
    phases: Phases
    live: LiveSettings
    journal: Journal
    events: EventBus
    metrics: Metrics
    plane: ControlPlane
    clock: FakeClock

    def metric(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


async def build_parts(
    tmp: Path, phase: Phase = Phase.MIRROR, config_path: Path | None = None, **sections: Any
) -> Parts:
    """Everything the control plane needs, real, on files under ``tmp``."""
    if config_path is not None:
        config = load_config(config_path)
    else:
        config = parse_config({"migration": {"initial_phase": phase.value}, **sections})
    events = EventBus()
    metrics = Metrics()
    metrics.subscribe(events)
    state = StateStore(tmp / "state.sqlite")
    phases = Phases(state, config.migration.initial_phase)
    live = LiveSettings(state, config, events)
    journal = await Journal(tmp / "journal.sqlite").open()
    plane = build_control(config, config_path, state, phases, live, journal, events)
    clock = FakeClock()
    plane.guard._clock = clock  # the guard's windows run on the test's clock
    plane.ramp._clock = clock
    return Parts(config, state, phases, live, journal, events, metrics, plane, clock)


async def close_parts(parts: Parts) -> None:
    await parts.plane.close()
    await parts.journal.close()
    parts.state.close()
