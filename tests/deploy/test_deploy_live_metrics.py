"""Against a running proxy: the dashboard's metrics exist, and a real Prometheus scrapes them.

Prometheus comes from Debian's package (installed by .ci/run); the test starts its own
server on a free port with a one-second scrape interval and asks it PromQL questions.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
import orjson
import pytest
import yaml
from deploy_files import dashboard_exprs, rules
from harness import ProxyProcess, new_port, proxy_config
from promql_scan import metric_names

from proxy.upstream.embedded_chroma import EmbeddedChroma

_SUFFIXES = ("_bucket", "_count", "_sum")


@pytest.fixture
def busy_proxy(
    tmp_path: Path, chroma_server: EmbeddedChroma, unique_name: str
) -> Iterator[ProxyProcess]:
    config = proxy_config(
        tmp_path, chroma_server.url, new_port(),
        migration={"initial_phase": "shadow"}, shadow={"sample_rate": 1.0},
    )  # fmt: skip
    proxy = ProxyProcess(tmp_path, config).start()
    client = chromadb.HttpClient(host="127.0.0.1", port=proxy.port)
    collection = client.create_collection(unique_name)
    vectors = np.random.default_rng(3).normal(size=(300, 16)).astype(np.float32)
    collection.add(ids=[f"r{i}" for i in range(300)], embeddings=vectors)
    proxy.wait_caught_up()
    for i in range(40):
        collection.query(query_embeddings=vectors[i : i + 1], n_results=5)
    yield proxy
    proxy.kill()


def _exported_names(text: str) -> set[str]:
    return set(re.findall(r"^# TYPE (\S+) ", text, flags=re.MULTILINE))


def _base(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def test_every_dashboard_and_rule_metric_is_exported(busy_proxy: ProxyProcess) -> None:
    exported = _exported_names(busy_proxy.get_text("/metrics"))
    # the TYPE line of a counter names it without _total
    exported |= {f"{n}_total" for n in exported}
    recorded = {r["record"] for r in rules() if "record" in r}
    used: set[str] = set()
    for expr in dashboard_exprs() + [r["expr"] for r in rules()]:
        used |= {n for n in metric_names(expr) if n.startswith("vecbridge_")}
    missing = sorted(n for n in used if _base(n) not in exported and n not in recorded)
    assert not missing, f"dashboard/rules use metrics the proxy does not export: {missing}"


def _query(port: int, promql: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as resp:
        body = orjson.loads(resp.read())
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian's prometheus not installed")
def test_real_prometheus_scrapes_the_proxy(busy_proxy: ProxyProcess, tmp_path: Path) -> None:
    port = new_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{
            "job_name": "vecbridge",
            "static_configs": [{"targets": [f"127.0.0.1:{busy_proxy.port}"]}],
        }],
    }  # fmt: skip
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    server = subprocess.Popen(
        ["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("wb"),
    )  # fmt: skip
    try:
        questions = {
            "up": 'up{job="vecbridge"} == 1',
            "journal lag": "vecbridge_journal_lag_entries",
            "request rate": 'sum by (route) (rate(vecbridge_requests_total{route="query"}[10s]))',
            "shadow recall": "sum(vecbridge_shadow_recall_count)",
        }
        answers: dict[str, list[dict[str, Any]]] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            busy_proxy.get_text("/-/live")
            try:
                answers = {name: _query(port, q) for name, q in questions.items()}
            except OSError:
                answers = {}
            if answers and all(answers.values()):
                break
            time.sleep(1)
        for name in questions:
            assert answers.get(name), f"Prometheus has no series for {name}"
        assert float(answers["journal lag"][0]["value"][1]) == 0.0
        assert float(answers["shadow recall"][0]["value"][1]) > 0
    finally:
        server.terminate()
        server.wait(30)
