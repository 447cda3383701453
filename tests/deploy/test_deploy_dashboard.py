"""The Grafana dashboard and its provisioning: structure and the metric names it uses."""

from __future__ import annotations

import re
from typing import Any

import pytest
from deploy_files import (
    DEPLOY,
    GRAFANA,
    dashboard,
    dashboard_exprs,
    dashboard_panels,
    dashboard_variable_queries,
    load_yaml,
)
from metric_names import labels_of, selector_problems, series_names
from promql_scan import metric_names, selectors

DS_REF = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
_LABEL_VALUES_QUERY = re.compile(r"label_values\((\w+),\s*(\w+)\)")


def _content_panels() -> list[dict[str, Any]]:
    return [panel for panel in dashboard_panels() if panel["type"] != "row"]


def test_dashboard_header() -> None:
    board = dashboard()
    assert 36 <= board["schemaVersion"] <= 41
    assert board["uid"] and board["title"]
    assert board["id"] is None  # importable into any Grafana


def test_dashboard_panel_ids_are_unique_with_grid_positions() -> None:
    panels = dashboard_panels()
    ids = [panel["id"] for panel in panels]
    assert all(isinstance(i, int) for i in ids)
    assert len(ids) == len(set(ids))
    for panel in panels:
        grid = panel["gridPos"]
        assert set(grid) == {"h", "w", "x", "y"}, panel["title"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]


def test_dashboard_panels_do_not_overlap() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboard()["panels"]:
        grid = panel["gridPos"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_dashboard_targets_have_expr_and_templated_datasource() -> None:
    for panel in _content_panels():
        assert panel["datasource"] == DS_REF, panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DS_REF, panel["title"]
            assert target["expr"].strip(), panel["title"]


def test_dashboard_template_variables() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    collection = variables["collection"]
    assert collection["type"] == "query" and collection["datasource"] == DS_REF
    assert collection["includeAll"] and collection["multi"]
    uses = [expr for expr in dashboard_exprs() if "$collection" in expr]
    assert uses, "no query filters by $collection"


@pytest.mark.parametrize(
    "metric",
    [
        "vecbridge_phase",
        "vecbridge_canary_percent",
        "vecbridge_requests_total",
        "vecbridge_upstream_duration_seconds_count",
        "vecbridge_upstream_duration_seconds_bucket",
        "vecbridge_shadow_latency_delta_seconds_bucket",
        "vecbridge_shadow_recall_bucket",
        "vecbridge_shadow_comparisons_total",
        "vecbridge_journal_lag_entries",
        "vecbridge_journal_lag_seconds",
        "vecbridge_applier_retries_total",
        "vecbridge_dead_letter_entries",
        "vecbridge_backfill_progress_ratio",
        "vecbridge_guard_trips_total",
    ],
)
def test_dashboard_shows_metric(metric: str) -> None:
    used = set().union(*(metric_names(expr) for expr in dashboard_exprs()))
    assert metric in used


def test_dashboard_uses_only_documented_metrics_and_labels() -> None:
    problems = []
    for expr in dashboard_exprs():
        for selector in selectors(expr):
            problems += selector_problems(selector, set(series_names()))
    assert problems == []


def test_dashboard_variables_use_documented_metrics() -> None:
    for query in dashboard_variable_queries():
        match = _LABEL_VALUES_QUERY.fullmatch(query)
        assert match, query
        metric, label = match.groups()
        assert metric in series_names()
        assert label in labels_of(metric)


def test_selector_check_catches_typos() -> None:
    # The name check itself must be able to fail.
    bad = (
        'rate(vecbridge_request_total{outcome="server_errors"}[5m]) + vecbridge_store_up{side="x"}'
    )
    problems = [p for s in selectors(bad) for p in selector_problems(s, set(series_names()))]
    assert problems == [
        "unknown metric vecbridge_request_total",
        "vecbridge_store_up has no label side",
    ]
    wrong_value = selectors('vecbridge_requests_total{outcome=~"ok|server_errors"}')[0]
    assert selector_problems(wrong_value, set(series_names())) == [
        "vecbridge_requests_total{outcome} never is 'server_errors'"
    ]


def test_grafana_provisioning_matches_compose() -> None:
    datasource = load_yaml(GRAFANA / "provisioning/datasources/prometheus.yaml")["datasources"][0]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    provider = load_yaml(GRAFANA / "provisioning/dashboards/vecbridge.yaml")["providers"][0]
    dashboards_dir = provider["options"]["path"]
    grafana = load_yaml(DEPLOY / "compose.yaml")["services"]["grafana"]
    mounts = dict(volume.rsplit(":", 2)[:2] for volume in grafana["volumes"])
    assert mounts["./grafana/vecbridge.json"] == f"{dashboards_dir}/vecbridge.json"
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
