"""The running proxy's parts, built once at start-up by the composition root
(:mod:`proxy.http.server`) and read by the operator's views (status, admin API)."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from adapters.base import VectorStore
from proxy.core.config import Config
from proxy.core.events import EventBus
from proxy.core.live import LiveSettings
from proxy.core.phases import Phases
from proxy.core.state import StateStore
from proxy.core.tasks import TaskGroup
from proxy.journal.applier import Applier
from proxy.journal.journal import Journal
from proxy.ops.control_plane import ControlPlane
from proxy.ops.health import HealthMonitor
from proxy.ops.metrics import Metrics
from proxy.reads.path import ReadPath
from proxy.upstream.forwarder import Forwarder
from proxy.writes.cutover import CutoverWrites
from proxy.writes.pipeline import WritePipeline


@dataclass
class Proxy:
    """Everything a request handler needs, built once at start-up."""

    config: Config
    source_url: str
    events: EventBus
    metrics: Metrics
    journal: Journal
    state: StateStore
    phases: Phases
    primary: Forwarder
    target: VectorStore
    writes: WritePipeline
    reads: ReadPath
    applier: Applier
    health: HealthMonitor
    tasks: TaskGroup
    started_at: float
    # Operator parts (proxy/ops/control_plane.py): set right after construction in _lifecycle.
    live: LiveSettings = field(init=False)
    control: ControlPlane = field(init=False)
    # The cutover write path (proxy/writes/cutover.py): set in _lifecycle after control.
    cutover: CutoverWrites = field(init=False)


PROXY_KEY = web.AppKey("proxy", Proxy)
