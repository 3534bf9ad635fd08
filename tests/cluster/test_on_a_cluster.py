"""PodML on a real Kubernetes cluster: from a CSV to a live endpoint, through the HTTP API only.

Extra coverage, never the only one: these run when KUBECONFIG is set (deploy/kind/e2e.sh sets it
to the kind cluster of deploy/kind/up.sh), against the platform at PODML_CLUSTER_URL, which is then
required. The same flow runs on every test run against kmock (tests/kubernetes/
test_platform_on_kubernetes.py, the test playing kubelet); here the kubelet, the Job and Deployment
controllers, the quota, Pod Security and the NetworkPolicies are the cluster's own.

A user registers, uploads a CSV, creates a configuration and trains; the Job `train-<job id>`
runs in their namespace `user-<sub>` (restricted Pod Security, the quota, the policies); the
version builds; the deployment's Deployment `model-<id>` becomes ready and serves predictions
through the gateway; deleting the deployment removes its Deployment, Service and Secret from the cluster.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from podml.kubernetes.namespaces import namespace_name
from podml.kubernetes.training import LABEL_JOB, LABEL_KIND
from tests.deployments.helpers import deploy
from tests.support.api import Api, ApiUser
from tests.support.csvs import linear_csv

pytestmark = [
    pytest.mark.skipif(
        not os.environ.get("KUBECONFIG"),
        reason="needs a real cluster: KUBECONFIG and PODML_CLUSTER_URL (deploy/kind/e2e.sh sets both)",
    ),
    pytest.mark.timeout(1500),
]

FINAL = {"succeeded", "failed", "cancelled"}
# Pulling nothing (kind has the images), a pod starts in seconds; a slow node gets minutes.
STEP_TIMEOUT = 420.0


@pytest.fixture(scope="module")
def cluster_url() -> str:
    url = os.environ.get("PODML_CLUSTER_URL", "").rstrip("/")
    if not url:
        pytest.fail("KUBECONFIG is set but PODML_CLUSTER_URL is not: set it to the platform's URL")
    return url


@pytest.fixture(scope="module")
async def api(cluster_url: str) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(base_url=cluster_url, timeout=60) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 200, f"{cluster_url}/readyz: {ready.status_code} {ready.text}"
        yield Api(http)


@pytest.fixture(scope="module")
async def kube() -> AsyncIterator[ApiClient]:
    # KUBECONFIG, as kubectl reads it (one file or a list of them).
    api_client = await config.new_client_from_config()
    try:
        yield api_client
    finally:
        await api_client.close()


async def _get(api: Api, user: ApiUser, path: str) -> dict[str, Any]:
    response = await api.client.get(path, headers=user.headers)
    assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
    body: dict[str, Any] = response.json()
    return body


async def _post(api: Api, user: ApiUser, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.client.post(path, headers=user.headers, json=body)
    assert response.status_code == 201, f"POST {path}: {response.status_code} {response.text}"
    created: dict[str, Any] = response.json()
    return created


async def _until(
    what: str, read: Callable[[], Awaitable[dict[str, Any]]], done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Read every second until `done`; fail with the last reading after STEP_TIMEOUT."""
    deadline = time.monotonic() + STEP_TIMEOUT
    while True:
        current = await read()
        if done(current):
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not done after {STEP_TIMEOUT:.0f} s: {current}")
        await asyncio.sleep(1)


async def _first_sight(batch: client.BatchV1Api, namespace: str, name: str) -> Any:
    """The Job as it first appears: a watch lists what exists, then follows what comes.

    The platform deletes a finished Job once it has copied its logs, so looking afterwards could
    find nothing; a watch started before the Job is created (or while it exists) cannot miss it."""
    while True:
        async with watch.Watch().stream(
            batch.list_namespaced_job, namespace, field_selector=f"metadata.name={name}", timeout_seconds=60
        ) as stream:
            async for event in stream:
                if event["type"] in ("ADDED", "MODIFIED"):
                    return event["object"]


async def _gone(read: Callable[[], Awaitable[Any]], what: str) -> None:
    deadline = time.monotonic() + STEP_TIMEOUT
    while True:
        try:
            await read()
        except ApiException as exc:
            if exc.status == 404:
                return
            raise
        assert time.monotonic() < deadline, f"{what} still exists after {STEP_TIMEOUT:.0f} s"
        await asyncio.sleep(1)


async def _predict(api: Api, user: ApiUser, deployment_id: str, instances: list[list[float]]) -> list[Any]:
    """Predictions through the gateway. Each platform process learns a new deployment's endpoint
    by relisting the cluster every 2 s: a 503 right after `ready` is retried for a while."""
    deadline = time.monotonic() + 60
    while True:
        answer = await api.client.post(
            f"/api/v1/predict/{deployment_id}", headers=user.headers, json={"instances": instances}
        )
        if answer.status_code == 200:
            predictions: list[Any] = answer.json()["predictions"]
            return predictions
        assert answer.status_code in (502, 503, 504), answer.text
        assert time.monotonic() < deadline, f"predict: {answer.status_code} {answer.text}"
        await asyncio.sleep(1)


async def test_a_csv_becomes_a_live_endpoint_on_the_cluster(api: Api, kube: ApiClient) -> None:
    core, batch, apps = client.CoreV1Api(kube), client.BatchV1Api(kube), client.AppsV1Api(kube)
    user = await api.new_user()
    namespace = namespace_name(user.sub)

    # Upload, configure, train.
    dataset = await api.dataset(user, linear_csv(200))  # y = 3x + 2, with a little noise
    configuration = await _post(
        api,
        user,
        "/api/configurations",
        {
            "name": "cluster-line",
            "dataset_id": dataset["id"],
            "x_columns": ["x"],
            "y_column": "y",
            "model_type": "linear_regression",
        },
    )
    submitted = await _post(api, user, "/api/jobs", {"configuration_id": configuration["id"]})
    job_name = submitted["k8s_job_name"]
    assert job_name == f"train-{submitted['id']}"
    sighting = asyncio.create_task(_first_sight(batch, namespace, job_name))
    try:
        job = await _until(
            "the training job",
            lambda: _get(api, user, f"/api/jobs/{submitted['id']}"),
            lambda j: j["status"] in FINAL,
        )
        assert job["status"] == "succeeded", job
        assert job["executor"] == "kubernetes"
        assert job["metrics"]["metrics"]["r2"] > 0.99
        k8s_job = await asyncio.wait_for(sighting, timeout=30)
    finally:
        sighting.cancel()

    # The Job ran in the user's namespace, with the labels the platform finds it by.
    assert (k8s_job.metadata.name, k8s_job.metadata.namespace) == (job_name, namespace)
    assert k8s_job.metadata.labels[LABEL_JOB] == submitted["id"]
    assert k8s_job.metadata.labels[LABEL_KIND] == "train"
    assert k8s_job.spec.template.spec.security_context.run_as_non_root is True
    # ... which the platform created with what isolates it.
    labels = (await core.read_namespace(namespace)).metadata.labels
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    quotas = (await core.list_namespaced_resource_quota(namespace)).items
    assert [q.metadata.name for q in quotas] == ["podml-quota"]
    assert {"limits.cpu", "limits.memory", "pods"} <= set(quotas[0].spec.hard)
    policies = {
        p.metadata.name
        for p in (await client.NetworkingV1Api(kube).list_namespaced_network_policy(namespace)).items
    }
    assert {
        "default-deny",
        "allow-dns-and-object-store",
        "allow-gateway-to-model-servers",
        "allow-ingress-controller-to-public-model-servers",
    } <= policies

    # The version builds (a Job too), then deploys.
    version = await _until(
        "the version's build",
        lambda: _get(api, user, f"/api/model-versions/{job['model_version_id']}"),
        lambda v: v["status"] != "building",
    )
    assert version["status"] == "ready", version
    created = await deploy(api.client, user, version["id"])
    deployment = await _until(
        "the deployment",
        lambda: _get(api, user, f"/api/deployments/{created['id']}"),
        lambda d: d["status"] in ("ready", "failed"),
    )
    assert deployment["status"] == "ready", deployment
    name = f"model-{created['id']}"
    k8s_deployment = await apps.read_namespaced_deployment(name, namespace)
    assert (k8s_deployment.status.ready_replicas or 0) >= 1
    await core.read_namespaced_service(name, namespace)
    # The pod contract (signed URLs) is the revision's Secret, taken whole by the container.
    secret = k8s_deployment.spec.template.spec.containers[0].env_from[0].secret_ref.name
    await core.read_namespaced_secret(secret, namespace)

    # Predictions through the gateway, from the model server in the user's namespace.
    predictions = await _predict(api, user, created["id"], [[1.0], [2.0], [-4.0]])
    assert predictions == pytest.approx([5.0, 8.0, -10.0], abs=0.1)

    # Deleting the deployment removes its objects from the cluster.
    deleted = await api.client.delete(f"/api/deployments/{created['id']}", headers=user.headers)
    assert deleted.status_code == 204, deleted.text
    await _gone(lambda: apps.read_namespaced_deployment(name, namespace), f"Deployment {name}")
    await _gone(lambda: core.read_namespaced_service(name, namespace), f"Service {name}")
    await _gone(lambda: core.read_namespaced_secret(secret, namespace), f"Secret {secret}")
