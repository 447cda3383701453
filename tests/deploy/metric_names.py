"""The metric names vecbridge exports: a copy of the metrics contract (notes/metrics.md).

The deploy tests check every name used by the Grafana dashboard and the Prometheus rules
against this list; a live test can check the proxy's ``/metrics`` against it too
(``exposition_names()`` gives the names as they appear in the text format).
Each entry maps a metric name to its label names.
"""

from __future__ import annotations

from promql_scan import Selector

COUNTERS: dict[str, tuple[str, ...]] = {
    "vecbridge_requests_total": ("route", "outcome"),
    "vecbridge_journal_appended_total": (),
    "vecbridge_journal_applied_total": (),
    "vecbridge_applier_errors_total": ("kind",),
    "vecbridge_applier_retries_total": (),
    "vecbridge_dead_letters_total": (),
    "vecbridge_journal_pruned_entries_total": (),
    "vecbridge_unmirrored_requests_total": (),
    "vecbridge_shadow_comparisons_total": ("collection", "category"),
    "vecbridge_shadow_dropped_total": ("reason",),
    "vecbridge_canary_reads_total": ("outcome",),
    "vecbridge_guard_trips_total": ("reason",),
    "vecbridge_backfill_records_total": ("collection",),
    "vecbridge_phase_transitions_total": ("from_phase", "to_phase"),
}

HISTOGRAMS: dict[str, tuple[str, ...]] = {
    "vecbridge_request_duration_seconds": ("route",),
    "vecbridge_upstream_duration_seconds": ("store", "route"),
    "vecbridge_shadow_recall": ("collection",),
    "vecbridge_shadow_latency_delta_seconds": ("collection",),
    "vecbridge_applier_batch_duration_seconds": (),
}

GAUGES: dict[str, tuple[str, ...]] = {
    "vecbridge_journal_lag_entries": (),
    "vecbridge_journal_lag_seconds": (),
    "vecbridge_journal_head_position": (),
    "vecbridge_journal_applied_position": (),
    "vecbridge_reverse_journal_lag_entries": (),
    "vecbridge_reverse_journal_lag_seconds": (),
    "vecbridge_dead_letter_entries": (),
    "vecbridge_store_up": ("store",),
    "vecbridge_phase": ("phase",),
    "vecbridge_canary_percent": (),
    "vecbridge_shadow_sample_ratio": (),
    "vecbridge_guard_tripped": (),
    "vecbridge_backfill_progress_ratio": ("collection",),
    "vecbridge_build_info": ("version",),
}

_ROUTES = frozenset(
    [
        "heartbeat",
        "create_collection",
        "modify_collection",
        "delete_collection",
        "delete_database",
        "add",
        "upsert",
        "update",
        "delete",
        "get",
        "query",
        "count",
        "get_collection",
        "list_collections",
        "count_collections",
        "collection_read",
        "get_collection_by_id",
        "root",
        "version",
        "pre_flight_checks",
        "healthcheck",
        "identity",
        "create_tenant",
        "get_tenant",
        "list_databases",
        "create_database",
        "get_database",
        "other",
    ]
)
_PHASES = frozenset(["passthrough", "mirror", "shadow", "canary", "cutover", "finalized"])

# Bounded label values listed by the contract, keyed by (metric base name, label).
LABEL_VALUES: dict[tuple[str, str], frozenset[str]] = {
    ("vecbridge_requests_total", "route"): _ROUTES,
    ("vecbridge_requests_total", "outcome"): frozenset(
        ["ok", "client_error", "server_error", "unavailable", "too_large"]
    ),
    ("vecbridge_request_duration_seconds", "route"): _ROUTES,
    ("vecbridge_upstream_duration_seconds", "route"): _ROUTES,
    ("vecbridge_upstream_duration_seconds", "store"): frozenset({"source", "target"}),
    ("vecbridge_store_up", "store"): frozenset({"source", "target"}),
    ("vecbridge_applier_errors_total", "kind"): frozenset({"unavailable", "rejected"}),
    ("vecbridge_shadow_comparisons_total", "category"): frozenset(
        ["match", "missing_ids", "extra_ids", "order", "distance", "metadata", "error", "timeout"]
    ),
    ("vecbridge_shadow_dropped_total", "reason"): frozenset({"queue_full"}),
    ("vecbridge_canary_reads_total", "outcome"): frozenset({"served", "fallback"}),
    ("vecbridge_guard_trips_total", "reason"): frozenset(
        ["error_rate", "latency_p50", "latency_p99", "recall", "journal_lag", "manual"]
    ),
    ("vecbridge_phase", "phase"): _PHASES,
    ("vecbridge_phase_transitions_total", "from_phase"): _PHASES,
    ("vecbridge_phase_transitions_total", "to_phase"): _PHASES,
}

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

# Labels Prometheus adds to every scraped series, and the histogram bucket bound.
TARGET_LABELS = frozenset({"job", "instance"})


def documented_names() -> frozenset[str]:
    """Every metric name of the contract, as written there."""
    return frozenset(COUNTERS) | frozenset(HISTOGRAMS) | frozenset(GAUGES)


def series_names() -> frozenset[str]:
    """Names usable in PromQL: counters, gauges and the three series of each histogram."""
    histogram_series = {name + sfx for name in HISTOGRAMS for sfx in HISTOGRAM_SUFFIXES}
    return frozenset(COUNTERS) | frozenset(GAUGES) | frozenset(histogram_series)


def exposition_names(include_created: bool = True) -> frozenset[str]:
    """Names as in the proxy's /metrics text (prometheus-client adds ``_created``)."""
    names = set(series_names())
    if include_created:
        names |= {name.removesuffix("_total") + "_created" for name in COUNTERS}
        names |= {name + "_created" for name in HISTOGRAMS}
    return frozenset(names)


def base_name(series: str) -> str:
    """The contract name a PromQL series name belongs to (strips histogram suffixes)."""
    for name in HISTOGRAMS:
        if series in {name + sfx for sfx in HISTOGRAM_SUFFIXES}:
            return name
    return series


def labels_of(series: str) -> tuple[str, ...]:
    """Label names of a series; histogram buckets also carry ``le``."""
    name = base_name(series)
    if name in HISTOGRAMS:
        extra = ("le",) if series.endswith("_bucket") else ()
        return HISTOGRAMS[name] + extra
    return COUNTERS.get(name) or GAUGES.get(name) or ()


def selector_problems(selector: Selector, allowed: set[str]) -> list[str]:
    """Problems of one PromQL selector against the contract (empty when it is fine).

    ``allowed`` is the set of names that may be selected (series names plus, for rules,
    recording rule names and ``up``).
    """
    if selector.name not in allowed:
        return [f"unknown metric {selector.name}"]
    if selector.name not in series_names():
        return []  # a recording rule: its labels are checked where it is defined
    problems = []
    known = set(labels_of(selector.name)) | TARGET_LABELS
    for matcher in selector.matchers:
        if matcher.label not in known:
            problems.append(f"{selector.name} has no label {matcher.label}")
            continue
        values = LABEL_VALUES.get((base_name(selector.name), matcher.label))
        if values is None or "$" in matcher.value or matcher.value == ".*":
            continue
        wanted = set(matcher.value.split("|")) if "~" in matcher.op else {matcher.value}
        problems += [f"{selector.name}{{{matcher.label}}} never is {v!r}" for v in wanted - values]
    return problems
