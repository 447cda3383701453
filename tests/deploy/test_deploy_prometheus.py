"""Prometheus rules and scrape config: names against the contract, and promtool checks."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from deploy_files import (
    DEPLOY,
    PROMETHEUS,
    as_promql,
    dashboard_exprs,
    load_yaml,
    recorded_names,
    rules,
)
from metric_names import selector_problems, series_names
from promql_scan import metric_names, selectors

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not on PATH (apt-get install prometheus; CI installs it)"
)

REQUIRED_ALERTS = {
    "VecbridgeProxyDown",
    "VecbridgeTargetDown",
    "VecbridgeShadowRecallLow",
    "VecbridgeLatencyDeltaHigh",
    "VecbridgeJournalLagGrowing",
    "VecbridgeJournalLagHigh",
    "VecbridgeDeadLetters",
    "VecbridgeGuardTripped",
}


def _promtool(*args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_rules_use_only_documented_metrics_and_labels() -> None:
    allowed = set(series_names()) | recorded_names() | {"up"}
    problems = []
    for rule in rules():
        for selector in selectors(rule["expr"]):
            problems += selector_problems(selector, allowed)
    assert problems == []


def test_recording_rules_are_defined_before_use_and_named_by_convention() -> None:
    defined: set[str] = set()
    for rule in rules():
        used = {name for name in metric_names(rule["expr"]) if ":" in name}
        assert used <= defined, f"{rule.get('record') or rule['alert']} uses {used - defined}"
        if "record" in rule:
            level, _metric, _ops = rule["record"].split(":")
            assert level == "vecbridge"
            defined.add(rule["record"])


def test_every_required_alert_exists_with_severity_and_summary() -> None:
    alerts = {rule["alert"]: rule for rule in rules() if "alert" in rule}
    assert set(alerts) >= REQUIRED_ALERTS
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"], name


def test_every_alert_is_unit_tested() -> None:
    tests = load_yaml(PROMETHEUS / "rules_test.yml")["tests"]
    cases = [case for test in tests for case in test.get("alert_rule_test", [])]
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    firing = {case["alertname"] for case in cases if case["exp_alerts"]}
    silent = {case["alertname"] for case in cases if not case["exp_alerts"]}
    assert alerts <= firing, f"never shown firing: {alerts - firing}"
    assert alerts <= silent, f"never shown silent: {alerts - silent}"


def test_scrape_config_targets_the_proxy_port() -> None:
    config = load_yaml(PROMETHEUS / "prometheus.yml")
    job = next(job for job in config["scrape_configs"] if job["job_name"] == "vecbridge")
    assert job.get("metrics_path", "/metrics") == "/metrics"
    targets = [t for static in job["static_configs"] for t in static["targets"]]
    assert targets == ["proxy:8000"]
    assert "proxy" in load_yaml(DEPLOY / "compose.yaml")["services"]
    assert all((PROMETHEUS / path).is_file() for path in config["rule_files"])


@needs_promtool
def test_promtool_check_rules() -> None:
    result = _promtool("check", "rules", "rules.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_check_config() -> None:
    result = _promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_test_rules() -> None:
    result = _promtool("test", "rules", "rules_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_rule_tests_catch_a_broken_rule(tmp_path: Path) -> None:
    # The unit tests must have teeth: a dead-letter alert that always fires fails them.
    for name in ("rules.yml", "rules_test.yml"):
        shutil.copy(PROMETHEUS / name, tmp_path / name)
    broken = (
        (tmp_path / "rules.yml")
        .read_text()
        .replace(
            "expr: vecbridge_dead_letter_entries > 0", "expr: vecbridge_dead_letter_entries >= 0"
        )
    )
    assert broken != (tmp_path / "rules.yml").read_text()
    (tmp_path / "rules.yml").write_text(broken)
    result = _promtool("test", "rules", "rules_test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "VecbridgeDeadLetters" in result.stdout + result.stderr


@needs_promtool
def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    records = [
        {"record": f"dashboard:query_{index}:check", "expr": as_promql(expr)}
        for index, expr in enumerate(dashboard_exprs())
    ]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
    result = _promtool("check", "rules", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
