"""Paths and loaders for the static deployment artifacts under ``deploy/``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
GRAFANA = DEPLOY / "grafana"
KUBERNETES = DEPLOY / "kubernetes"
DASHBOARD = GRAFANA / "vecbridge.json"

# Grafana-only syntax, replaced by plain PromQL so promtool can parse dashboard queries.
GRAFANA_SUBSTITUTIONS = (
    (re.compile(r"\$__rate_interval|\$__interval|\$__range"), "5m"),
    (re.compile(r"\$\{?\w+\}?"), ".*"),
)


def load_yaml(path: Path) -> Any:
    """One YAML document."""
    return yaml.safe_load(path.read_text())


def load_yaml_all(path: Path) -> list[Any]:
    """Every non-empty YAML document of a file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def dashboard() -> dict[str, Any]:
    """The Grafana dashboard."""
    data = json.loads(DASHBOARD.read_text())
    assert isinstance(data, dict)
    return data


def dashboard_panels() -> list[dict[str, Any]]:
    """Every panel, including panels nested in collapsed rows."""
    panels: list[dict[str, Any]] = []
    for panel in dashboard()["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def dashboard_exprs() -> list[str]:
    """The PromQL of every panel target."""
    return [target["expr"] for panel in dashboard_panels() for target in panel.get("targets", [])]


def dashboard_variable_queries() -> list[str]:
    """The query strings of the dashboard's query variables."""
    queries = []
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            queries.append(query["query"] if isinstance(query, dict) else query)
    return queries


def as_promql(expr: str) -> str:
    """A dashboard expression with Grafana variables replaced by valid PromQL."""
    for pattern, replacement in GRAFANA_SUBSTITUTIONS:
        expr = pattern.sub(replacement, expr)
    return expr


def rules() -> list[dict[str, Any]]:
    """Every rule of deploy/prometheus/rules.yml."""
    groups = load_yaml(PROMETHEUS / "rules.yml")["groups"]
    return [rule for group in groups for rule in group["rules"]]


def recorded_names() -> set[str]:
    """Names defined by recording rules."""
    return {rule["record"] for rule in rules() if "record" in rule}
