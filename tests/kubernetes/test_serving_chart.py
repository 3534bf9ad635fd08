"""charts/model-serving and podml.kubernetes.serving are one source of truth: for every value in
the matrix, Helm's engine renders exactly the objects the Python builders make, and every object
passes the strict schemas and our own checks. The chart passes `helm lint --strict`."""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
import uuid
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from podml.kubernetes.serving import ServingObjects, chart_values, serving_objects
from tests.kubernetes.manifests import problems

CHART = Path(__file__).resolve().parents[2] / "charts" / "model-serving"


def _objects(
    public: bool, replicas: tuple[int, int, int], env: dict[str, str], host: str, ingress_class: str = "nginx"
) -> ServingObjects:
    initial, low, high = replicas
    return ServingObjects(
        deployment_id=str(uuid.uuid4()),
        user=f"u{uuid.uuid4().hex[:12]}",
        namespace="user-abc",
        revision=3,
        image="registry.example.com/kubeserve-base:0.1.0",
        env=env,
        requests={"cpu": "250m", "memory": "512Mi"},
        limits={"cpu": "1.5", "memory": "2Gi"},
        replicas=initial,
        min_replicas=low,
        max_replicas=high,
        public=public,
        ingress_class=ingress_class,
        ingress_host=host,
        extra_labels={"team": "risk"} if public else {},
    )


ENVS = [
    {
        "MODEL_NAME": "m",
        "MODEL_URL": "https://s3.example.com/b/models/x/model.joblib?X-Amz-Signature=abc&x=1",
    },
    {
        "MODEL_NAME": "m",
        "MODEL_S3_BUCKET": "b",
        "MODEL_S3_KEY": "models/u/m/1/model.joblib",
        "ONNX_URL": "http://x/y",
    },
    {},
]
MATRIX = list(
    itertools.product(
        [False, True],
        [(1, 1, 1), (2, 1, 5)],
        range(len(ENVS)),
        ["", "models.example.com"],
        ["nginx", "internal.nginx"],  # PODML_KUBERNETES_INGRESS_CLASS
    )
)


def _render(values: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
    rendered = helm.Chart.load(CHART).render(values, name="release", namespace=namespace)
    documents = [doc for text in rendered.values() for doc in yaml.safe_load_all(text) if doc]
    order = {"Secret": 0, "Deployment": 1, "Service": 2, "HorizontalPodAutoscaler": 3, "Ingress": 4}
    return sorted(documents, key=lambda doc: order[doc["kind"]])


@pytest.mark.parametrize(("public", "replicas", "env", "host", "ingress_class"), MATRIX)
def test_the_chart_renders_what_the_builders_make(
    public: bool, replicas: tuple[int, int, int], env: int, host: str, ingress_class: str
) -> None:
    objects = _objects(public, replicas, ENVS[env], host, ingress_class)
    built = serving_objects(objects)
    assert _render(chart_values(objects), objects.namespace) == built
    assert [o["kind"] for o in built] == ["Secret", "Deployment", "Service", "HorizontalPodAutoscaler"] + (
        ["Ingress"] if public else []
    )
    # The pods say whether the Ingress controller may reach them (the namespace's NetworkPolicy).
    assert built[1]["spec"]["template"]["metadata"]["labels"]["podml/public"] == str(public).lower()
    if public:
        spec = built[4]["spec"]
        assert spec["ingressClassName"] == ingress_class
        assert spec["rules"][0].get("host", "") == host
    for obj in built:
        assert problems(obj) == [], obj["kind"]


def test_the_pod_contract_is_a_secret_of_the_revision_and_fresh_urls_roll_nothing_out() -> None:
    objects = _objects(False, (2, 1, 5), ENVS[0], "")
    secret, deployment = serving_objects(objects)[:2]
    assert secret["metadata"]["name"] == f"model-{objects.deployment_id}-r3"
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == ENVS[0]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}]
    assert "X-Amz-Signature" not in json.dumps(deployment)  # the signed URL is in the Secret only
    # The platform re-signs the URLs of a running revision: only the Secret changes, so
    # Kubernetes starts no rollout (the pod template is the same) and restarts read the new ones.
    fresh = dataclasses.replace(objects, env={**ENVS[0], "MODEL_URL": ENVS[0]["MODEL_URL"] + "&fresh=1"})
    secret_again, deployment_again = serving_objects(fresh)[:2]
    assert deployment_again == deployment
    assert secret_again["metadata"]["name"] == secret["metadata"]["name"]
    assert secret_again["data"] != secret["data"]
    # A new revision (another version) is another Secret, and a new pod template: a rollout.
    switched = serving_objects(dataclasses.replace(objects, revision=4))
    assert switched[0]["metadata"]["name"].endswith("-r4")
    assert switched[1]["spec"]["template"] != deployment["spec"]["template"]


def test_the_objects_are_what_a_restricted_namespace_admits() -> None:
    deployment = serving_objects(_objects(False, (2, 1, 5), ENVS[0], ""))[1]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}


def test_our_checks_catch_what_the_schemas_miss() -> None:
    deployment = serving_objects(_objects(False, (1, 1, 1), ENVS[0], ""))[1]
    broken: dict[str, Any] = yaml.safe_load(yaml.safe_dump(deployment))
    broken["metadata"]["name"] = "Model_X"
    broken["spec"]["selector"]["matchLabels"] = {"podml/deployment": "other"}
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["resources"]["limits"]["memory"] = "2 gigs"
    container["readinessProbe"]["httpGet"]["port"] = "web"
    found = "\n".join(problems(broken))
    for expected in ("not a valid DNS label", "does not match the pod template", "not a quantity", "'web'"):
        assert expected in found
    unknown = yaml.safe_load(yaml.safe_dump(deployment))
    unknown["spec"]["replica"] = 2  # a typo the strict schema refuses
    assert any("replica" in problem for problem in problems(unknown))


@pytest.mark.parametrize("kube_version", ["v1.30.0", "v1.33.0"])
def test_helm_lint_strict(kube_version: str) -> None:
    for public in (False, True):
        report = helm.lint(CHART, {"public": public}, strict=True, kube_version=kube_version)
        errors = [m for m in report["messages"] if m["severity"] >= 2] + report.get("errors", [])
        assert errors == [], errors


def test_the_values_schema_refuses_bad_values() -> None:
    chart = helm.Chart.load(CHART)
    with pytest.raises(helm.HelmError):
        chart.validate_schema({"deploymentId": "not-a-uuid"})
    with pytest.raises(helm.HelmError):
        chart.validate_schema(
            {
                "resources": {
                    "requests": {"cpu": "lots", "memory": "1Gi"},
                    "limits": {"cpu": "1", "memory": "1Gi"},
                }
            }
        )
