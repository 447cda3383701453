"""Kubernetes manifests: they parse, have the required fields and agree with each other."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
import yaml
from deploy_files import KUBERNETES, load_yaml, load_yaml_all

from proxy.core.config import parse_config

KUBECTL = shutil.which("kubectl")
MANIFESTS = ("secret.yaml", "pvc.yaml", "deployment.yaml", "service.yaml")


def _resources() -> dict[str, dict[str, Any]]:
    """Every resource of the plain manifests, keyed by ``kind/name``."""
    found = {}
    for name in MANIFESTS:
        for doc in load_yaml_all(KUBERNETES / name):
            found[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return found


def _pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = _resources()["Deployment/vecbridge-example"]["spec"]["template"]["spec"]
    return spec


def _containers() -> dict[str, dict[str, Any]]:
    pod = _pod_spec()
    return {c["name"]: c for c in pod.get("initContainers", []) + pod["containers"]}


def _built_resources() -> list[dict[str, Any]]:
    assert KUBECTL is not None
    result = subprocess.run(
        [KUBECTL, "kustomize", str(KUBERNETES)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def test_manifests_have_api_version_kind_and_name() -> None:
    resources = _resources()
    assert set(resources) == {
        "Secret/vecbridge",
        "PersistentVolumeClaim/vecbridge-state",
        "Deployment/vecbridge-example",
        "Service/vecbridge-admin",
    }
    for doc in resources.values():
        assert doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"]


def test_every_container_has_image_and_resources() -> None:
    for name, container in _containers().items():
        assert container["image"], name
        for kind in ("requests", "limits"):
            assert set(container["resources"][kind]) == {"cpu", "memory"}, name


def test_proxy_sidecar_ports_probes_and_secrets() -> None:
    proxy = _containers()["vecbridge"]
    assert proxy["restartPolicy"] == "Always"  # a native sidecar, started before the app
    ports = {p["name"]: p["containerPort"] for p in proxy["ports"]}
    assert ports == {"http": 8000, "admin": 8081}
    for probe, path in (("readinessProbe", "/-/ready"), ("livenessProbe", "/-/live")):
        get = proxy[probe]["httpGet"]
        assert get["path"] == path
        assert ports.get(get["port"], get["port"]) == 8000
    secret = _resources()["Secret/vecbridge"]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in proxy["env"] if "valueFrom" in e}
    assert set(env) == {"VECBRIDGE_ADMIN__TOKEN", "VECBRIDGE_TARGET__API_KEY"}
    for ref in env.values():
        assert ref["name"] == "vecbridge" and ref["key"] in secret["stringData"]


def test_app_points_at_the_sidecar() -> None:
    app = _containers()["app"]
    assert {"name": "CHROMA_URL", "value": "http://localhost:8000"} in app["env"]


def test_volumes_back_config_and_journal() -> None:
    pod = _pod_spec()
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in _containers()["vecbridge"]["volumeMounts"]}
    claim = volumes[mounts["/var/lib/vecbridge"]]["persistentVolumeClaim"]["claimName"]
    assert f"PersistentVolumeClaim/{claim}" in _resources()
    assert volumes[mounts["/etc/vecbridge"]]["configMap"]["name"] == "vecbridge-config"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"]


def test_admin_service_selects_the_pod() -> None:
    service = _resources()["Service/vecbridge-admin"]["spec"]
    labels = _resources()["Deployment/vecbridge-example"]["spec"]["template"]["metadata"]["labels"]
    assert service["selector"].items() <= labels.items()
    assert [(p["port"], p["targetPort"]) for p in service["ports"]] == [(8081, "admin")]


def test_kustomization_lists_existing_files() -> None:
    kustomization = load_yaml(KUBERNETES / "kustomization.yaml")
    assert sorted(kustomization["resources"]) == sorted(MANIFESTS)
    generated = {g["name"]: g["files"] for g in kustomization["configMapGenerator"]}
    assert set(generated) == {"vecbridge-config", "vecbridge-example-app"}
    for files in generated.values():
        assert all((KUBERNETES / f).is_file() for f in files)


def test_configmap_config_is_valid() -> None:
    config = parse_config(load_yaml(KUBERNETES / "config.yaml"))
    assert config.listen.host == "0.0.0.0" and config.listen.port == 8000
    assert config.source.url == "http://chroma:8000"
    assert config.target.url == "http://qdrant:6333" and config.target.path is None
    assert str(config.journal.path) == "/var/lib/vecbridge/journal.sqlite"
    assert str(config.migration.state_path) == "/var/lib/vecbridge/state.sqlite"


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not on PATH (needed for `kubectl kustomize`)")
def test_kustomize_build_wires_generated_configmaps() -> None:
    built = {f"{d['kind']}/{d['metadata']['name']}": d for d in _built_resources()}
    names = [key.split("/", 1)[1] for key in built if key.startswith("ConfigMap/")]
    deployment = built["Deployment/vecbridge-example"]
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    used = {v["configMap"]["name"] for v in volumes if "configMap" in v}
    assert used == set(names) and len(names) == 2  # hashed names, all referenced
    config = next(d for d in built.values() if d["metadata"]["name"].startswith("vecbridge-config"))
    parse_config(yaml.safe_load(config["data"]["config.yaml"]))
    for doc in built.values():
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "vecbridge"


def test_manifests_validate_against_kubernetes_schemas() -> None:
    validate = pytest.importorskip(
        "kubernetes_validate", reason="pip install kubernetes-validate (bundles the schemas)"
    )
    docs = list(_resources().values())
    if KUBECTL is not None:
        docs += _built_resources()
    for doc in docs:
        validate.validate(doc, validate.latest_version(), strict=True)


def test_schema_validation_catches_a_misspelt_field() -> None:
    validate = pytest.importorskip(
        "kubernetes_validate", reason="pip install kubernetes-validate (bundles the schemas)"
    )
    deployment = _resources()["Deployment/vecbridge-example"]
    deployment["spec"]["template"]["spec"]["initContainers"][0]["readinesProbe"] = {}
    with pytest.raises(validate.ValidationError):
        validate.validate(deployment, validate.latest_version(), strict=True)
