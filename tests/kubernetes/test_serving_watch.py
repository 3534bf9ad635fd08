"""KubernetesServing's watched view: `upkeep` (run by every platform process) watches Deployments and
their pods, so an API replica that never applied a spec routes to the ready pods, each request
spread over them by the gateway, and observations make no API call in the steady state."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import kmock
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from podml.executors.kubernetes_api import KubeApi
from podml.executors.kubernetes_serving import KubernetesServing
from podml.kubernetes.namespaces import namespace_name
from tests.kubernetes.test_executor_serving import IMAGE, OWNER, READY, _pod, _spec


async def _until(check: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_an_api_replica_routes_to_the_ready_pods_it_watches(
    k8s: kmock.KubernetesEmulator, kube_api: ApiClient
) -> None:
    worker = KubernetesServing(KubeApi(kube_api, retry_delays=(0.01,)), serving_image=IMAGE)
    gateway = KubernetesServing(KubeApi(kube_api, retry_delays=(0.01,)), serving_image=IMAGE)
    upkeep = asyncio.create_task(gateway.upkeep())
    try:
        spec = _spec(replicas=2)
        await worker.apply_serving(spec)
        await _until(lambda: gateway.pods.synced and gateway.deployments.synced)
        assert gateway.endpoints(spec.deployment_id) == []

        await _pod(kube_api, spec, "model-a", 1, READY)
        await _pod(kube_api, spec, "model-b", 1, {**READY, "podIP": "10.1.2.4"})
        await _pod(
            kube_api,
            spec,
            "model-c",
            1,
            {**READY, "podIP": "10.1.2.5", "conditions": [{"type": "Ready", "status": "False"}]},
        )
        both = ["http://10.1.2.3:8080", "http://10.1.2.4:8080"]
        await _until(lambda: gateway.endpoints(spec.deployment_id) == both)  # not the unready one

        # A terminating pod leaves the rotation at once (before its readiness probe fails); kmock
        # deletes an object without finalizers as soon as it is marked.
        core = client.CoreV1Api(kube_api)
        namespace = namespace_name(OWNER)
        await core.patch_namespaced_pod(
            "model-a", namespace, {"metadata": {"deletionTimestamp": "2026-11-23T10:00:00Z"}}
        )
        await _until(lambda: gateway.endpoints(spec.deployment_id) == ["http://10.1.2.4:8080"])

        # Observations come from the cache: no read, no list.
        requests = len(list(k8s))
        seen = await gateway.observe_serving(spec.deployment_id)
        assert (seen.exists, seen.ready_replicas, len(seen.replicas)) == (True, 1, 2)
        assert len(list(k8s)) == requests

        await worker.delete_serving(spec.deployment_id)
        for pod in ("model-a", "model-b", "model-c"):  # the garbage collector's part
            with contextlib.suppress(client.ApiException):
                await core.delete_namespaced_pod(pod, namespace)
        await _until(lambda: gateway.endpoints(spec.deployment_id) == [])
        assert (await gateway.observe_serving(spec.deployment_id)).exists is False
    finally:
        upkeep.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await upkeep
    assert not gateway.pods.synced  # the watches stopped with the process's upkeep
