"""Reverse-journal lag and journal pruning: exported, on the dashboard, alerted on."""

from __future__ import annotations

from deploy_files import dashboard_exprs, rules
from promql_scan import metric_names

from proxy.core.events import EventBus, JournalPruned
from proxy.journal.journal import DirectionStats, JournalStats
from proxy.ops.metrics import Metrics

NEW_METRICS = (
    "vecbridge_reverse_journal_lag_entries",
    "vecbridge_reverse_journal_lag_seconds",
    "vecbridge_journal_pruned_entries_total",
)


def _sample(text: str, name: str) -> float:
    values = [line.rsplit(" ", 1)[1] for line in text.splitlines() if line.startswith(name + " ")]
    assert len(values) == 1, (name, values)
    return float(values[0])


def test_reverse_lag_comes_from_the_journal_stats_and_forward_lag_is_apart() -> None:
    metrics = Metrics()
    stats = JournalStats(head=9, applied=9, lag_entries=0, lag_seconds=0.0, dead_letters=0,
                         pending_intents=0, reverse=DirectionStats(40, 34, 6, 12.5))  # fmt: skip
    metrics.set_journal(stats)
    text = metrics.render().decode()
    assert _sample(text, "vecbridge_reverse_journal_lag_entries") == 6
    assert _sample(text, "vecbridge_reverse_journal_lag_seconds") == 12.5
    assert _sample(text, "vecbridge_journal_lag_entries") == 0
    metrics.set_journal(JournalStats(9, 9, 0, 0.0, 0, 0))  # drained: back to 0
    text = metrics.render().decode()
    assert _sample(text, "vecbridge_reverse_journal_lag_entries") == 0
    assert _sample(text, "vecbridge_reverse_journal_lag_seconds") == 0


def test_pruned_entries_are_counted_from_the_event() -> None:
    metrics, bus = Metrics(), EventBus()
    metrics.subscribe(bus)
    assert _sample(metrics.render().decode(), "vecbridge_journal_pruned_entries_total") == 0
    bus.emit(JournalPruned(entries=500, position=1200))
    bus.emit(JournalPruned(entries=7, position=1207))
    assert _sample(metrics.render().decode(), "vecbridge_journal_pruned_entries_total") == 507


def test_dashboard_and_rules_show_the_new_metrics() -> None:
    used = set().union(*(metric_names(expr) for expr in dashboard_exprs()))
    assert set(NEW_METRICS) <= used
    alerts = {rule["alert"]: rule for rule in rules() if "alert" in rule}
    rule = alerts["VecbridgeReverseJournalLagHigh"]
    assert "vecbridge_reverse_journal_lag_seconds" in metric_names(rule["expr"])
