"""charts/podml installs the platform: rendered with Helm's engine over a matrix of values, every
object is strictly valid (the ServiceMonitor, a CRD, is checked by hand), the API and worker share
their settings, secrets only come from Secrets, and `helm lint --strict` passes."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from tests.kubernetes.manifests import problems

CHART = Path(__file__).resolve().parents[2] / "charts" / "podml"
COGNITO = {
    "mode": "cognito",
    "cognito": {"userPoolId": "eu-west-1_AbC", "clientId": "abc123", "region": "eu-west-1"},
}


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    rendered = helm.Chart.load(CHART).render(values, name="podml", namespace="podml")
    return [doc for text in rendered.values() for doc in yaml.safe_load_all(text) if doc]


def env_of(obj: dict[str, Any]) -> dict[str, Any]:
    container = obj["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


MATRIX = list(itertools.product([{}, COGNITO], [False, True], [False, True], ["podml-s3", ""]))


@pytest.mark.parametrize(("auth", "ingress", "monitor", "s3_secret"), MATRIX)
def test_every_object_is_valid(auth: dict[str, Any], ingress: bool, monitor: bool, s3_secret: str) -> None:
    values = {
        "auth": auth,
        "ingress": {"enabled": ingress, "tlsSecretName": "podml-tls" if ingress else ""},
        "serviceMonitor": {"enabled": monitor},
        "secrets": {"s3": {"name": s3_secret}},
        "storage": {"endpointUrl": "http://minio.minio:9000"},
        "extraEnv": {"PODML_MAX_REPLICAS_PER_USER": "16"},
    }
    objects = render(values)
    kinds = sorted(o["kind"] for o in objects)
    expected = ["ClusterRole", "ClusterRoleBinding", "Deployment", "Deployment", "Service", "ServiceAccount"]
    expected += ["Ingress"] if ingress else []
    expected += ["ServiceMonitor"] if monitor else []
    assert kinds == sorted(expected)
    for obj in objects:
        if obj["kind"] == "ServiceMonitor":
            assert obj["apiVersion"] == "monitoring.coreos.com/v1"
            assert obj["spec"]["endpoints"][0] == {"port": "http", "path": "/metrics", "interval": "30s"}
            continue
        assert problems(obj) == [], obj["kind"]
    api, worker = sorted(
        (o for o in objects if o["kind"] == "Deployment"), key=lambda o: o["metadata"]["name"]
    )
    assert env_of(api) == env_of(worker)  # one set of settings
    env = env_of(api)
    assert env["PODML_SECRET_KEY"] == {"secretKeyRef": {"name": "podml", "key": "secret-key"}}
    assert env["PODML_DATABASE_URL"] == {"secretKeyRef": {"name": "podml", "key": "database-url"}}
    assert ("PODML_S3_SECRET_ACCESS_KEY" in env) == bool(s3_secret)
    assert env["PODML_AUTH_MODE"] == auth.get("mode", "local")
    assert ("PODML_COGNITO_USER_POOL_ID" in env) == bool(auth)
    assert env["PODML_MAX_REPLICAS_PER_USER"] == "16"
    assert api["spec"]["template"]["spec"]["containers"][0]["args"][0] == "serve"
    assert worker["spec"]["template"]["spec"]["containers"][0]["args"] == ["worker"]


def test_least_rbac() -> None:
    role = next(o for o in render({}) if o["kind"] == "ClusterRole")
    granted = {
        (group, resource): set(rule["verbs"])
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert "delete" not in granted[("", "namespaces")]  # a user's namespace outlives a bug
    assert granted[("", "pods/log")] == {"get"}
    assert granted[("", "pods")] == {"get", "list", "watch"}
    assert ("", "secrets") not in granted
    assert all("*" not in verbs for verbs in granted.values())
    assert not any(resource == "*" or group == "*" for group, resource in granted)


def test_cognito_mode_needs_its_pool() -> None:
    with pytest.raises(helm.HelmError, match="userPoolId is required"):
        render({"auth": {"mode": "cognito"}})


@pytest.mark.parametrize(
    "bad",
    [
        {"publicUrl": "podml.example.com"},
        {"api": {"replicas": -1, "resources": {}}},
        {"extraEnv": {"MAX_REPLICAS": "3"}},
        {"auth": {"mode": "ldap"}},
        {"unknown": 1},
    ],
)
def test_the_values_schema_refuses_mistakes(bad: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmError):
        helm.Chart.load(CHART).validate_schema(bad)


@pytest.mark.parametrize("kube_version", ["v1.30.0", "v1.33.0"])
def test_helm_lint_strict(kube_version: str) -> None:
    for values in ({}, {"ingress": {"enabled": True}, "serviceMonitor": {"enabled": True}, "auth": COGNITO}):
        report = helm.lint(CHART, values, strict=True, kube_version=kube_version)
        errors = [m for m in report["messages"] if m["severity"] >= 2] + report.get("errors", [])
        assert errors == [], errors
