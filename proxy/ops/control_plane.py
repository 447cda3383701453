"""The operator's side of the proxy in one object: live settings, phase controller, guard,
canary ramp, alerts and config reload, built together and started together.

``proxy.control`` is what the admin API, the status page and SIGHUP talk to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proxy.core.config import Config
from proxy.core.events import EventBus
from proxy.core.live import LiveSettings
from proxy.core.phases import Phases, last_validation
from proxy.core.state import StateStore
from proxy.core.tasks import TaskGroup
from proxy.journal.journal import Journal
from proxy.migration.control import Controller
from proxy.migration.guard import Guard
from proxy.migration.guard_watch import GuardWatch
from proxy.migration.ramp import RampRunner
from proxy.ops.reload import Reloader
from proxy.ops.webhooks import Notifier
from proxy.reads.canary import serving_percent


@dataclass
class ControlPlane:
    """Every operator-facing part; see the module docstring."""

    live: LiveSettings
    controller: Controller
    guard: GuardWatch
    ramp: RampRunner
    notifier: Notifier
    reloader: Reloader
    # Called with the merged config after a reload (e.g. to update ``Proxy.config``).
    config_sinks: list[Callable[[Config], None]] = field(default_factory=list)

    def spawn(self, tasks: TaskGroup) -> None:
        """Start the background loops (guard checks, ramp, live refresh, file watch)."""
        self.live.refresh(source="startup")  # publishes the persisted values as metrics
        tasks.spawn(self.live.run(), name="live-settings")
        tasks.spawn(self.guard.run(), name="guard")
        tasks.spawn(self.ramp.run(), name="canary-ramp")
        tasks.spawn(self.reloader.watch(), name="config-watch")

    def apply_config(self, old: Config, new: Config) -> None:
        """Push a reloaded config's hot keys to the parts (synchronous: atomic on the loop)."""
        if new.canary.percent != old.canary.percent:
            self.live.set_canary(new.canary.percent, source="reload")
        if new.shadow.sample_rate != old.shadow.sample_rate:
            self.live.set_shadow_sample_rate(new.shadow.sample_rate, source="reload")
        self.live.set_sticky_header(new.canary.sticky_header)
        self.guard.update(new.guard)
        self.ramp.update(new.canary.ramp)
        self.notifier.update(new.webhooks)
        for sink in self.config_sinks:
            sink(new)

    def status(self) -> dict[str, Any]:
        """The control part of ``/-/status``."""
        values = self.live.values
        return {
            "canary": {
                "percent": values.canary_percent,
                "active_percent": values.canary_active_percent,
                # what the new store answers now: 100 from cutover on, whatever the canary
                "serving_percent": serving_percent(values),
                "sticky_header": values.sticky_header,
            },
            "shadow_sampling": {
                "sample_rate": values.shadow_sample_rate,
                "active_rate": values.shadow_active_rate,
            },
            "guard": self.guard.status(),
            "ramp": self.ramp.status(),
            "last_validation": last_validation(self.controller.state),
            "phase_history": [t.__dict__ for t in self.controller.phases.history(10)],
            "reload": self.reloader.status(),
            "webhooks": {
                "endpoints": len(self.notifier.config.endpoints),
                "delivered": self.notifier.delivered,
                "failed": self.notifier.failed,
            },
        }

    async def close(self) -> None:
        await self.notifier.close()


def build_control(
    config: Config,
    config_path: Path | None,
    state: StateStore,
    phases: Phases,
    live: LiveSettings,
    journal: Journal,
    events: EventBus,
) -> ControlPlane:
    """Wire the operator parts to the proxy's state, journal and event bus."""
    controller = Controller(phases, live, state, events, journal.stats)
    guard = GuardWatch(Guard(config.guard), controller, state, journal.stats)
    guard.subscribe(events)
    ramp = RampRunner(config.canary.ramp, controller, state, lambda: guard.last_analysis)
    notifier = Notifier(config.webhooks, f"{config.listen.host}:{config.listen.port}")
    notifier.subscribe(events)
    plane: ControlPlane
    reloader = Reloader(config_path, config, lambda old, new: plane.apply_config(old, new))
    plane = ControlPlane(live, controller, guard, ramp, notifier, reloader)
    return plane
