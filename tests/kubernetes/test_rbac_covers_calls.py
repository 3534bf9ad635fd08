"""The platform's ClusterRole (charts/podml) grants every call the executor makes, and nothing is
granted that no call needs: the test drives every operation of both executor halves and the quota
writer against kmock, records each request the API server received, and checks each against the
role rendered by Helm. A call the role lacks would be a 403 on a real cluster only."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import kmock
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient, Configuration

from podml.executors.kubernetes import KubernetesExecutor
from podml.executors.kubernetes_api import KubeApi
from podml.executors.kubernetes_serving import KubernetesServing
from podml.kubernetes.namespaces import Quota, namespace_name
from podml.quotas.kubernetes import KubernetesQuotas
from tests.kubernetes.test_executor_serving import READY
from tests.kubernetes.test_executor_serving import _pod as serving_pod
from tests.kubernetes.test_executor_serving import _spec as serving_spec
from tests.kubernetes.test_executor_training import _job_status, _pod, _spec
from tests.kubernetes.test_platform_chart import render

CONTROLLER = "test-controller"
VERBS = {"GET": "get", "POST": "create", "PATCH": "patch", "DELETE": "delete", "PUT": "update"}


def _granted() -> dict[tuple[str, str], set[str]]:
    role = next(o for o in render({}) if o["kind"] == "ClusterRole")
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


def _needed(request: Any) -> tuple[str, str, str]:
    """(API group, resource[/subresource], verb) of one request, as RBAC names them."""
    resource = request.resource
    plural = resource.plural + (f"/{request.subresource}" if request.subresource else "")
    verb = VERBS[str(request.method.value)]
    if verb == "get" and request.name is None:
        verb = "watch" if str(request.params.get("watch", "")).lower() == "true" else "list"
    return resource.group or "", plural, verb


def _calls(k8s: kmock.KubernetesEmulator) -> set[tuple[str, str, str]]:
    """What the platform asked of the API server (not the test playing the controllers)."""
    return {_needed(r) for r in k8s if r.resource is not None and r.headers.get("User-Agent") != CONTROLLER}


async def _until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


async def test_the_cluster_role_grants_every_call_and_no_more(
    k8s_server: tuple[kmock.KubernetesEmulator, str], kube_api: ApiClient
) -> None:
    k8s, url = k8s_server
    kube = KubeApi(kube_api, retry_delays=(0.01,))
    # The test's own writes (as the controllers and the kubelet) go through a client of their own.
    controller = ApiClient(Configuration(host=url))
    controller.user_agent = CONTROLLER
    # Training, watched and not (a restarted process reads before its watches sync).
    watching = KubernetesExecutor(kube, trainer_image="t")
    await watching.prepare()
    spec = _spec()
    await watching.start_training(spec)
    await _until(lambda: watching.jobs.synced and watching.pods.synced)
    await watching.observe_training(spec.job_id)  # no pod yet: its events are read
    await _pod(controller, spec, {"running": {}})
    await _until(lambda: any(watching.pods.select(str(spec.job_id))))
    await watching.training_logs(spec.job_id)
    reading = KubernetesExecutor(kube, trainer_image="t")
    await reading.observe_training(spec.job_id)
    await _job_status(controller, spec, {"failed": 1})
    await reading.observe_training(spec.job_id)
    await reading.cancel_training(spec.job_id)
    await reading.cleanup_training(uuid.uuid4())
    await watching.jobs.stop()
    await watching.pods.stop()

    # Serving, watched and not; public, then private again.
    serving = KubernetesServing(kube, serving_image="s")
    deployment = serving_spec(public=True)
    await serving.apply_serving(deployment)
    await serving.apply_serving(deployment)  # the objects exist: patched
    await serving.apply_serving(serving_spec(deployment_id=deployment.deployment_id, public=False))
    await serving_pod(controller, deployment, "model-a", 1, READY)
    await serving.observe_serving(deployment.deployment_id)
    other = KubernetesServing(kube, serving_image="s")
    await other.prepare()
    watches = {("apps", "deployments"), ("", "pods")}
    await _until(lambda: watches <= {(w[0], w[1]) for w in _calls(k8s) if w[2] == "watch"})
    await other.observe_serving(deployment.deployment_id)
    await other.close()
    await serving.refresh()
    await serving.delete_serving(deployment.deployment_id)

    # An administrator's quota, written and read back.
    quotas = KubernetesQuotas(kube)
    await quotas.apply(spec.owner_sub, Quota(cpu="4", memory="8Gi", pods=10))
    await quotas.observe(spec.owner_sub, Quota(cpu="4", memory="8Gi", pods=10))
    fresh = KubeApi(kube_api, retry_delays=(0.01,))  # a new process re-applies the quota once
    await fresh.ensure_namespace(spec.owner_sub)
    assert namespace_name(spec.owner_sub) in fresh._namespaces

    await controller.close()
    needed = _calls(k8s)
    assert ("batch", "jobs", "watch") in needed  # the recording saw the watches
    granted = _granted()
    missing = sorted(n for n in needed if n[2] not in granted.get((n[0], n[1]), set()))
    assert missing == [], f"the ClusterRole lacks: {missing}"
    unused = sorted(
        (group, resource, verb)
        for (group, resource), verbs in granted.items()
        for verb in verbs
        if (group, resource, verb) not in needed
    )
    assert unused == [], f"granted but never used: {unused}"
    await client.CoreV1Api(kube_api).list_namespace()  # the emulator still answers
