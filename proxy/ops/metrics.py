"""Prometheus metrics, fed by events. Names follow Prometheus conventions.

Every metric is prefixed ``vecbridge_``; counters end in ``_total``; durations are in
seconds. Label values come from small fixed sets, except ``collection``, which is
capped (:class:`CollectionLabels`) so a tenant-per-collection app cannot blow up the
series count. No ids, no user values, no tokens ever become labels.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from proxy import __version__
from proxy.core.config import Phase
from proxy.core.events import (
    ApplyFailed,
    BatchApplied,
    CanaryRead,
    DeadLettered,
    EventBus,
    GuardTripped,
    JournalPruned,
    LiveChanged,
    PhaseChanged,
    RequestHandled,
    ShadowCompared,
    ShadowDropped,
    UpstreamCalled,
    WriteJournaled,
    WriteUnmirrored,
)
from proxy.journal.journal import JournalStats
from proxy.migration.backfill_state import BackfillCopied

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1,
    0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
DELTA_BUCKETS = (
    -1.0, -0.25, -0.1, -0.05, -0.025, -0.01, -0.005, -0.001, 0.0,
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
)  # fmt: skip
RECALL_BUCKETS = (0.1, 0.25, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
OTHER = "other"
GUARD_REASONS = ("error_rate", "latency_p50", "latency_p99", "recall", "journal_lag", "manual")

# The *_created series double the series count for no use on dashboards.
disable_created_metrics()  # type: ignore[no-untyped-call]


class CollectionLabels:
    """Maps collection names to label values, folding names past the cap into 'other'."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: set[str] = set()

    def __call__(self, name: str) -> str:
        if name in self._seen:
            return name
        if len(self._seen) >= self.limit:
            return OTHER
        self._seen.add(name)
        return name


class Metrics:
    """All of the proxy's Prometheus metrics, in one registry of its own."""

    def __init__(self, max_collection_labels: int = 50) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.collection_label = CollectionLabels(max_collection_labels)
        r = self.registry
        self.requests = Counter(
            "vecbridge_requests", "App requests answered, by route and outcome.",
            ["route", "outcome"], registry=r,
        )  # fmt: skip
        self.request_duration = Histogram(
            "vecbridge_request_duration_seconds", "Time an app request spent in the proxy.",
            ["route"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.upstream_duration = Histogram(
            "vecbridge_upstream_duration_seconds", "Time of one call to a store.",
            ["store", "route"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self._request_counters: dict[tuple[str, str], Any] = {}
        self._request_durations: dict[str, Any] = {}
        self._upstream_durations: dict[tuple[str, str], Any] = {}
        self.unmirrored = Counter(
            "vecbridge_unmirrored_requests", "Requests passed through without mirroring.",
            registry=r,
        )  # fmt: skip
        self.journal_appended = Counter(
            "vecbridge_journal_appended", "Journal entries appended.", registry=r
        )
        self.journal_applied = Counter(
            "vecbridge_journal_applied", "Journal entries applied to the secondary.", registry=r
        )
        self.applier_errors = Counter(
            "vecbridge_applier_errors", "Failed apply attempts, by kind.", ["kind"], registry=r
        )
        self.applier_retries = Counter(
            "vecbridge_applier_retries", "Apply attempts that will be retried.", registry=r
        )
        self.applier_batch = Histogram(
            "vecbridge_applier_batch_duration_seconds", "Time to apply one batch.",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.dead_letters_total = Counter(
            "vecbridge_dead_letters", "Entries moved to the dead-letter table.", registry=r
        )
        self.lag_entries = Gauge(
            "vecbridge_journal_lag_entries", "Entries appended but not yet applied.", registry=r
        )
        self.lag_seconds = Gauge(
            "vecbridge_journal_lag_seconds", "Age of the oldest unapplied entry.", registry=r
        )
        self.head_position = Gauge(
            "vecbridge_journal_head_position", "Last appended journal position.", registry=r
        )
        self.applied_position = Gauge(
            "vecbridge_journal_applied_position", "Last applied journal position.", registry=r
        )
        self.dead_letters = Gauge(
            "vecbridge_dead_letter_entries", "Entries in the dead-letter table now.", registry=r
        )
        self._init_journal_extras()
        self.store_up = Gauge(
            "vecbridge_store_up", "1 when the store's last health check passed.", ["store"],
            registry=r,
        )  # fmt: skip
        self.phase = Gauge(
            "vecbridge_phase", "1 for the current migration phase.", ["phase"], registry=r
        )
        self.canary_percent = Gauge(
            "vecbridge_canary_percent", "Share of reads answered by the new store.", registry=r
        )
        self.shadow_sample_ratio = Gauge(
            "vecbridge_shadow_sample_ratio", "Share of reads mirrored as shadow.", registry=r
        )
        self.guard_trips = Counter(
            "vecbridge_guard_trips", "Rollbacks, by reason (a guard rule or manual).",
            ["reason"], registry=r,
        )  # fmt: skip
        self.guard_tripped = Gauge(
            "vecbridge_guard_tripped", "1 while the guard is tripped (until re-armed).", registry=r
        )
        self.phase_transitions = Counter(
            "vecbridge_phase_transitions", "Phase changes, by from and to phase.",
            ["from_phase", "to_phase"], registry=r,
        )  # fmt: skip
        self.backfill_records = Counter(
            "vecbridge_backfill_records", "Records copied by the backfill.", ["collection"],
            registry=r,
        )  # fmt: skip
        self.backfill_progress = Gauge(
            "vecbridge_backfill_progress_ratio", "Share of a collection backfilled (0..1).",
            ["collection"], registry=r,
        )  # fmt: skip
        self._init_read_metrics()
        build = Gauge("vecbridge_build_info", "Build information.", ["version"], registry=r)
        build.labels(version=__version__).set(1)
        self._init_label_sets()

    def _init_journal_extras(self) -> None:
        """The reverse journal (cutover writes replayed to the old store) and pruning."""
        r = self.registry
        self.reverse_lag_entries = Gauge(
            "vecbridge_reverse_journal_lag_entries",
            "Cutover writes journaled for the old store but not yet applied to it.", registry=r,
        )  # fmt: skip
        self.reverse_lag_seconds = Gauge(
            "vecbridge_reverse_journal_lag_seconds",
            "Age of the oldest reverse journal entry not yet applied to the old store.",
            registry=r,
        )  # fmt: skip
        self.journal_pruned = Counter(
            "vecbridge_journal_pruned_entries", "Applied journal entries deleted by pruning.",
            registry=r,
        )  # fmt: skip

    def _init_read_metrics(self) -> None:
        """Shadow comparison and canary routing (fed by proxy/reads/path.py's events)."""
        r = self.registry
        self.shadow_comparisons = Counter(
            "vecbridge_shadow_comparisons", "Shadow reads compared, by collection and category.",
            ["collection", "category"], registry=r,
        )  # fmt: skip
        self.shadow_dropped = Counter(
            "vecbridge_shadow_dropped", "Sampled reads not mirrored, by reason.", ["reason"],
            registry=r,
        )  # fmt: skip
        self.shadow_recall = Histogram(
            "vecbridge_shadow_recall", "Recall@k of the new store per shadow comparison.",
            ["collection"], buckets=RECALL_BUCKETS, registry=r,
        )  # fmt: skip
        self.shadow_latency_delta = Histogram(
            "vecbridge_shadow_latency_delta_seconds", "Secondary minus primary read latency.",
            ["collection"], buckets=DELTA_BUCKETS, registry=r,
        )  # fmt: skip
        self.canary_reads = Counter(
            "vecbridge_canary_reads", "Reads the new store was asked to answer, by outcome.",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.shadow_dropped.labels(reason="queue_full")
        for outcome in ("served", "fallback"):
            self.canary_reads.labels(outcome=outcome)

    def _on_shadow(self, event: ShadowCompared) -> None:
        label = self.collection_label(event.collection)
        self.shadow_comparisons.labels(collection=label, category=event.category).inc()
        if event.recall is not None:
            self.shadow_recall.labels(collection=label).observe(event.recall)
        if event.secondary_seconds is not None:
            delta = event.secondary_seconds - event.primary_seconds
            self.shadow_latency_delta.labels(collection=label).observe(delta)

    def _init_label_sets(self) -> None:
        for store in ("source", "target"):
            self.store_up.labels(store=store).set(0)
        for kind in ("unavailable", "rejected"):
            self.applier_errors.labels(kind=kind)
        self.set_phase(Phase.PASSTHROUGH)
        for reason in GUARD_REASONS:
            self.guard_trips.labels(reason=reason)

    # event subscribers -----------------------------------------------------------
    def subscribe(self, bus: EventBus) -> None:
        bus.subscribe(RequestHandled, self._on_request)
        bus.subscribe(UpstreamCalled, self._on_upstream)
        bus.subscribe(WriteJournaled, self._on_journaled)
        bus.subscribe(WriteUnmirrored, lambda _e: self.unmirrored.inc())
        bus.subscribe(BatchApplied, self._on_applied)
        bus.subscribe(ApplyFailed, self._on_apply_failed)
        bus.subscribe(DeadLettered, lambda _e: self.dead_letters_total.inc())
        bus.subscribe(JournalPruned, lambda e: self.journal_pruned.inc(e.entries))
        bus.subscribe(BackfillCopied, self._on_backfill)
        bus.subscribe(PhaseChanged, self._on_phase_changed)
        bus.subscribe(GuardTripped, self._on_guard_tripped)
        bus.subscribe(LiveChanged, self._on_live_changed)
        bus.subscribe(ShadowCompared, self._on_shadow)
        bus.subscribe(ShadowDropped, lambda e: self.shadow_dropped.labels(reason=e.reason).inc())
        bus.subscribe(CanaryRead, lambda e: self.canary_reads.labels(outcome=e.outcome).inc())

    def _on_backfill(self, event: BackfillCopied) -> None:
        label = self.collection_label(event.collection)
        self.backfill_records.labels(collection=label).inc(event.records)
        self.backfill_progress.labels(collection=label).set(event.ratio)

    def _on_request(self, event: RequestHandled) -> None:
        # Per-request path: label children are looked up once and kept (labels() takes a
        # lock and builds a key each call). Routes and outcomes are a small fixed set.
        key = (event.route, event.outcome)
        counter = self._request_counters.get(key)
        if counter is None:
            counter = self._request_counters[key] = self.requests.labels(*key)
        counter.inc()
        duration = self._request_durations.get(event.route)
        if duration is None:
            duration = self._request_durations[event.route] = self.request_duration.labels(
                event.route
            )
        duration.observe(event.seconds)

    def _on_upstream(self, event: UpstreamCalled) -> None:
        key = (event.store, event.route)
        duration = self._upstream_durations.get(key)
        if duration is None:
            duration = self._upstream_durations[key] = self.upstream_duration.labels(*key)
        duration.observe(event.seconds)

    def _on_journaled(self, event: WriteJournaled) -> None:
        self.journal_appended.inc(event.entries)

    def _on_applied(self, event: BatchApplied) -> None:
        self.journal_applied.inc(event.entries)
        self.applier_batch.observe(event.seconds)

    def _on_apply_failed(self, event: ApplyFailed) -> None:
        self.applier_errors.labels(kind=event.kind).inc()
        if event.will_retry:
            self.applier_retries.inc()

    def _on_phase_changed(self, event: PhaseChanged) -> None:
        self.phase_transitions.labels(from_phase=event.from_phase, to_phase=event.to_phase).inc()
        self.set_phase(Phase(event.to_phase))

    def _on_guard_tripped(self, event: GuardTripped) -> None:
        self.guard_trips.labels(reason=event.reason).inc()

    def _on_live_changed(self, event: LiveChanged) -> None:
        self.canary_percent.set(event.percent)
        self.shadow_sample_ratio.set(event.shadow_sample_rate)
        self.guard_tripped.set(1 if event.guard_tripped else 0)

    # state gauges ------------------------------------------------------------------
    def set_phase(self, current: Phase) -> None:
        for phase in Phase:
            self.phase.labels(phase=phase.value).set(1 if phase == current else 0)

    def set_journal(self, stats: JournalStats) -> None:
        self.lag_entries.set(stats.lag_entries)
        self.lag_seconds.set(stats.lag_seconds)
        self.head_position.set(stats.head)
        self.applied_position.set(stats.applied)
        self.dead_letters.set(stats.dead_letters)
        self.reverse_lag_entries.set(stats.reverse.lag_entries)
        self.reverse_lag_seconds.set(stats.reverse.lag_seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
