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

from podml.config import Settings
from podml.executors import factory
from podml.kubernetes.namespaces import Egress
from tests.kubernetes.manifests import problems

CHART = Path(__file__).resolve().parents[2] / "charts" / "podml"
COGNITO = {
    "mode": "cognito",
    "cognito": {"userPoolId": "eu-west-1_AbC", "clientId": "abc123", "region": "eu-west-1"},
}


def render(values: dict[str, Any], namespace: str = "podml") -> list[dict[str, Any]]:
    rendered = helm.Chart.load(CHART).render(values, name="podml", namespace=namespace)
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
    assert granted[("", "pods")] == {"list", "watch"}
    # Model servers' pod-contract Secrets are written, never read: get, list or watch on Secrets
    # would let the platform read every Secret of the cluster.
    assert granted[("", "secrets")] == {"create", "patch", "delete"}
    assert all("*" not in verbs for verbs in granted.values())
    assert not any(resource == "*" or group == "*" for group, resource in granted)


def test_cognito_mode_needs_its_pool() -> None:
    with pytest.raises(helm.HelmError, match="userPoolId is required"):
        render({"auth": {"mode": "cognito"}})


def the(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def test_the_users_network_policies_and_public_ingresses_follow_the_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values = {
        "ingress": {"enabled": True, "className": "nginx", "host": "podml.example.com"},
        "executor": {
            "publicIngress": {"controllerNamespace": "traefik"},
            "egress": {
                "objectStore": {"cidrs": ["10.20.0.0/16", "fd00::/8"], "ports": [9000]},
                "packageIndex": {"cidrs": ["198.51.100.0/24"], "ports": [443, 8443]},
            },
        },
    }
    for deployment in the(render(values, namespace="ml-platform"), "Deployment"):
        env = env_of(deployment)
        assert env["PODML_KUBERNETES_PLATFORM_NAMESPACE"] == "ml-platform"  # the release's namespace
        assert env["PODML_KUBERNETES_INGRESS_NAMESPACE"] == "traefik"
        # Public deployments' Ingresses default to the platform's class and host.
        assert env["PODML_KUBERNETES_INGRESS_CLASS"] == "nginx"
        assert env["PODML_KUBERNETES_INGRESS_HOST"] == "podml.example.com"
        assert env["PODML_KUBERNETES_OBJECT_STORE_CIDRS"] == "10.20.0.0/16,fd00::/8"
        assert env["PODML_KUBERNETES_OBJECT_STORE_PORTS"] == "9000"
        assert env["PODML_KUBERNETES_PACKAGE_INDEX_CIDRS"] == "198.51.100.0/24"
        assert env["PODML_KUBERNETES_PACKAGE_INDEX_PORTS"] == "443,8443"
        # ... which the platform reads into the users' NetworkPolicies.
        for name, value in env.items():
            if name.startswith("PODML_KUBERNETES_"):
                monkeypatch.setenv(name, value)
        settings = Settings(_env_file=None)
        assert factory.egress(settings) == Egress(
            object_store_cidrs=("10.20.0.0/16", "fd00::/8"),
            object_store_ports=(9000,),
            index_cidrs=("198.51.100.0/24",),
            index_ports=(443, 8443),
            platform_namespace="ml-platform",
            ingress_namespace="traefik",
        )
        assert (settings.kubernetes_ingress_class, settings.kubernetes_ingress_host) == (
            "nginx",
            "podml.example.com",
        )


def test_the_defaults_give_the_platforms_defaults() -> None:
    env = env_of(the(render({}), "Deployment")[0])
    assert env["PODML_KUBERNETES_PLATFORM_NAMESPACE"] == "podml"
    assert env["PODML_KUBERNETES_INGRESS_NAMESPACE"] == "ingress-nginx"
    assert env["PODML_KUBERNETES_INGRESS_CLASS"] == "nginx"
    assert "PODML_KUBERNETES_INGRESS_HOST" not in env  # no platform Ingress: any host
    assert (env["PODML_KUBERNETES_OBJECT_STORE_CIDRS"], env["PODML_KUBERNETES_OBJECT_STORE_PORTS"]) == (
        "0.0.0.0/0",
        "443,9000",
    )
    assert (env["PODML_KUBERNETES_PACKAGE_INDEX_CIDRS"], env["PODML_KUBERNETES_PACKAGE_INDEX_PORTS"]) == (
        "0.0.0.0/0",
        "443",
    )
    own = {"className": "public", "host": "models.example.com"}
    env = env_of(
        the(render({"ingress": {"enabled": True}, "executor": {"publicIngress": own}}), "Deployment")[0]
    )
    assert (env["PODML_KUBERNETES_INGRESS_CLASS"], env["PODML_KUBERNETES_INGRESS_HOST"]) == (
        "public",
        "models.example.com",
    )


def test_annotations_pull_secrets_and_monitor_labels() -> None:
    values = {
        "ingress": {
            "enabled": True,
            "annotations": {
                "nginx.ingress.kubernetes.io/proxy-body-size": "1g",
                "example.com/timeout": "120",
            },
        },
        "imagePullSecrets": ["regcred", "mirror-cred"],
        "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
    }
    objects = render(values)
    [ingress] = the(objects, "Ingress")
    assert ingress["metadata"]["annotations"] == {
        "nginx.ingress.kubernetes.io/proxy-body-size": "1g",
        "example.com/timeout": "120",  # still a string
    }
    assert problems(ingress) == []
    deployments = the(objects, "Deployment")
    assert len(deployments) == 2
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        assert pod["imagePullSecrets"] == [{"name": "regcred"}, {"name": "mirror-cred"}]
        assert problems(deployment) == []
    [monitor] = the(objects, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["metadata"]["labels"]["app.kubernetes.io/name"] == "podml"  # the chart's own stay

    plain = render({"ingress": {"enabled": True}, "serviceMonitor": {"enabled": True}})
    assert "annotations" not in the(plain, "Ingress")[0]["metadata"]
    assert all("imagePullSecrets" not in d["spec"]["template"]["spec"] for d in the(plain, "Deployment"))
    assert "release" not in the(plain, "ServiceMonitor")[0]["metadata"]["labels"]


@pytest.mark.parametrize(
    "bad",
    [
        {"publicUrl": "podml.example.com"},
        {"api": {"replicas": -1, "resources": {}}},
        {"extraEnv": {"MAX_REPLICAS": "3"}},
        {"auth": {"mode": "ldap"}},
        {"unknown": 1},
        {"imagePullSecrets": [{"name": "regcred"}]},  # names, not objects
        {"imagePullSecrets": ["Reg_Cred"]},
        {"ingress": {"annotations": {"nginx.ingress.kubernetes.io/proxy-read-timeout": 120}}},
        {"serviceMonitor": {"labels": {"release": True}}},
        {"serviceMonitor": {"labels": {"app.kubernetes.io/name": "other"}}},  # the chart's own
        {"executor": {"egress": {"objectStore": {"cidrs": ["minio.example.com"], "ports": [9000]}}}},
        {"executor": {"egress": {"objectStore": {"cidrs": [], "ports": [9000]}}}},
        {"executor": {"egress": {"objectStore": {"cidrs": ["0.0.0.0/0"], "ports": []}}}},
        {"executor": {"egress": {"packageIndex": {"cidrs": ["0.0.0.0/0"], "ports": [0]}}}},
        {"executor": {"egress": {"packageIndex": {"cidrs": ["0.0.0.0/0"], "ports": ["443"]}}}},
        {"executor": {"publicIngress": {"controllerNamespace": "Ingress_Nginx"}}},
        {"executor": {"publicIngress": {"host": "https://podml.example.com"}}},
    ],
)
def test_the_values_schema_refuses_mistakes(bad: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmError):
        helm.Chart.load(CHART).validate_schema(bad)


@pytest.mark.parametrize("kube_version", ["v1.30.0", "v1.33.0"])
def test_helm_lint_strict(kube_version: str) -> None:
    full = {
        "ingress": {"enabled": True, "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "1g"}},
        "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
        "auth": COGNITO,
        "imagePullSecrets": ["regcred"],
        "executor": {"egress": {"objectStore": {"cidrs": ["10.0.0.0/8"], "ports": [9000]}}},
    }
    for values in ({}, full):
        report = helm.lint(CHART, values, strict=True, kube_version=kube_version)
        errors = [m for m in report["messages"] if m["severity"] >= 2] + report.get("errors", [])
        assert errors == [], errors
