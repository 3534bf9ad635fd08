"""API errors on the executor's real calls, against kmock: what the user notices. A create the API
server throttles (429) is retried until the object exists; an object it finds invalid (422) is
refused at once, in the API server's own words; a delete that finds the object gone already (404)
is success. (409 on create, adoption, is covered by the idempotency checks of
test_executor_training and test_executor_serving; 403 and 5xx by their error tests.)"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace

import kmock
import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from podml.executors.base import ExecutorError, Phase
from podml.executors.kubernetes import KubernetesExecutor
from podml.executors.kubernetes_api import KubeApi
from podml.executors.kubernetes_serving import KubernetesServing
from podml.kubernetes.namespaces import namespace_name
from podml.kubernetes.serving import LABEL_DEPLOYMENT as LABEL
from tests.kubernetes.conftest import refuse
from tests.kubernetes.test_executor_serving import IMAGE as SERVING_IMAGE
from tests.kubernetes.test_executor_serving import OWNER as SERVING_OWNER
from tests.kubernetes.test_executor_serving import _spec as _serving_spec
from tests.kubernetes.test_executor_training import OWNER as TRAINING_OWNER
from tests.kubernetes.test_executor_training import _executor
from tests.kubernetes.test_executor_training import _spec as _training_spec
from tests.kubernetes.test_job_watch import _until

JOBS = kmock.resource("batch", "v1", "jobs")
DEPLOYMENTS = kmock.resource("apps", "v1", "deployments")
SERVICES = kmock.resource("", "v1", "services")
HPAS = kmock.resource("autoscaling", "v2", "horizontalpodautoscalers")
INGRESSES = kmock.resource("networking.k8s.io", "v1", "ingresses")
THROTTLED = "the server has received too many requests and has asked us to try again later"


def _serving(api: ApiClient) -> KubernetesServing:
    return KubernetesServing(KubeApi(api, retry_delays=(0.01, 0.01, 0.01)), serving_image=SERVING_IMAGE)


# ---- 429: retried ----------------------------------------------------------------------------------


async def test_a_throttled_job_create_is_retried_and_the_job_starts(
    k8s: kmock.KubernetesEmulator, kube_api: ApiClient
) -> None:
    """The API server's rate limit (priority and fairness) delays the job; it does not fail it."""
    k8s["post", JOBS] << refuse(k8s, 429, "TooManyRequests", THROTTLED, times=2)
    executor, spec = _executor(kube_api), _training_spec()
    await executor.start_training(spec)
    assert len(k8s["post", JOBS]) == 3  # twice throttled, then created
    job = await client.BatchV1Api(kube_api).read_namespaced_job(spec.name, namespace_name(TRAINING_OWNER))
    assert job.metadata.labels["podml/job_id"] == str(spec.job_id)
    assert (await executor.observe_training(spec.job_id)).phase == Phase.PENDING


async def test_a_throttled_deployment_create_is_retried_and_the_model_is_deployed(
    k8s: kmock.KubernetesEmulator, kube_api: ApiClient
) -> None:
    """A throttled Deployment create is retried; the rest of the deployment follows."""
    k8s["post", DEPLOYMENTS] << refuse(k8s, 429, "TooManyRequests", THROTTLED)
    serving, spec = _serving(kube_api), _serving_spec()
    await serving.apply_serving(spec)
    assert len(k8s["post", DEPLOYMENTS]) == 2
    namespace = namespace_name(SERVING_OWNER)
    stored = await client.AppsV1Api(kube_api).read_namespaced_deployment(spec.name, namespace)
    assert stored.spec.template.metadata.labels["podml/revision"] == "1"
    assert (await client.CoreV1Api(kube_api).read_namespaced_service(spec.name, namespace)).spec.selector
    assert (await serving.observe_serving(spec.deployment_id)).exists


async def test_throttling_that_outlasts_the_retries_fails_the_start_with_its_reason(
    k8s: kmock.KubernetesEmulator, kube_api: ApiClient
) -> None:
    """Throttled past the last retry, the start fails (it does not hang) and says why."""
    k8s["post", JOBS] << refuse(k8s, 429, "TooManyRequests", THROTTLED, times=99)
    with pytest.raises(ExecutorError, match=rf"could not write the Job .*: 429 {THROTTLED}"):
        await _executor(kube_api).start_training(_training_spec())
    assert len(k8s["post", JOBS]) == 4  # the first try and three retries (retry_delays)


# ---- 422: reported at once, in the API server's words ----------------------------------------------


async def test_a_job_the_api_server_finds_invalid_fails_to_start_with_its_words(
    k8s: kmock.KubernetesEmulator, kube_api: ApiClient
) -> None:
    """The job's failure (`could not start: ...`, jobs.lifecycle) quotes the API server."""
    spec = _training_spec()
    message = (
        f'Job.batch "{spec.name}" is invalid: spec.template.spec.containers[0].resources.requests: '
        'Invalid value: "2": must be less than or equal to cpu limit of 1'
    )
    k8s["post", JOBS] << refuse(k8s, 422, "Invalid", message)
    executor = _executor(kube_api)
    with pytest.raises(ExecutorError) as refused:
        await executor.start_training(spec)
    assert str(refused.value) == f"Kubernetes refused the Job {spec.name}: {message}"
    assert len(k8s["post", JOBS]) == 1  # an invalid object stays invalid: not retried
    assert (await executor.observe_training(spec.job_id)).phase == Phase.MISSING


async def test_a_deployment_the_api_server_finds_invalid_is_refused_with_its_words(
    k8s: kmock.KubernetesEmulator, kube_api: ApiClient
) -> None:
    """The deployment fails with the API server's words (deployments.lifecycle records them)."""
    spec = _serving_spec()
    message = (
        f'Deployment.apps "{spec.name}" is invalid: spec.template.spec.containers[0].image: Required value'
    )
    k8s["post", DEPLOYMENTS] << refuse(k8s, 422, "Invalid", message)
    with pytest.raises(
        ExecutorError, match=rf"Kubernetes refused the Deployment {spec.name}: .*Required value"
    ):
        await _serving(kube_api).apply_serving(spec)
    assert len(k8s["post", DEPLOYMENTS]) == 1
    assert len(k8s["post", SERVICES]) == 0  # nothing more is written for it


async def test_a_new_revision_the_api_server_finds_invalid_is_refused_with_its_words(
    k8s: kmock.KubernetesEmulator, kube_api: ApiClient
) -> None:
    """A version switch the API server refuses says why; the running revision is left alone."""
    serving, spec = _serving(kube_api), _serving_spec()
    await serving.apply_serving(spec)
    message = f'Deployment.apps "{spec.name}" is invalid: spec.template.metadata.labels: Invalid value'
    k8s["patch", DEPLOYMENTS] << refuse(k8s, 422, "Invalid", message)
    with pytest.raises(ExecutorError, match=r"Kubernetes refused the Deployment .*labels: Invalid value"):
        await serving.apply_serving(replace(spec, revision=2))
    assert len(k8s["patch", DEPLOYMENTS]) == 1
    stored = await client.AppsV1Api(kube_api).read_namespaced_deployment(
        spec.name, namespace_name(SERVING_OWNER)
    )
    assert stored.spec.template.metadata.labels["podml/revision"] == "1"


# ---- 404 on delete: done already -------------------------------------------------------------------


@pytest.fixture
async def watching(kube_api: ApiClient) -> AsyncIterator[KubernetesExecutor]:
    executor = _executor(kube_api)  # resync every 30 s: nothing relists during a test
    await executor.prepare()
    try:
        yield executor
    finally:
        await executor.jobs.stop()
        await executor.pods.stop()


@pytest.mark.parametrize("method", ["cancel_training", "cleanup_training"])
async def test_cancelling_or_cleaning_up_a_job_someone_deleted_succeeds(
    k8s: kmock.KubernetesEmulator, watching: KubernetesExecutor, method: str
) -> None:
    """A Job deleted by someone else (kubectl, its TTL) before the watch said so: the executor
    still sends its DELETE, and the API server's 404 means done, not an error."""
    spec, namespace = _training_spec(), namespace_name(TRAINING_OWNER)
    await watching.start_training(spec)
    await _until(lambda: watching.jobs.get(namespace, spec.name) is not None)
    del k8s.objects[JOBS, namespace, spec.name]  # gone, with no watch event
    await getattr(watching, method)(spec.job_id)
    assert len(k8s["delete", JOBS]) == 1  # it was sent, and answered 404
    if method == "cancel_training":
        seen = await watching.observe_training(spec.job_id)
        assert (seen.phase, seen.reason) == (Phase.FAILED, "cancelled")


async def test_deleting_a_deployment_whose_service_and_hpa_are_gone_succeeds(
    k8s: kmock.KubernetesEmulator, kube_api: ApiClient
) -> None:
    """Another process (no cache, no memory of the deployment) deletes a deployment some of whose
    objects someone removed already: each 404 is done, and the rest goes."""
    spec, namespace = _serving_spec(public=True), namespace_name(SERVING_OWNER)
    await _serving(kube_api).apply_serving(spec)
    await client.CoreV1Api(kube_api).delete_namespaced_service(spec.name, namespace)
    await client.AutoscalingV2Api(kube_api).delete_namespaced_horizontal_pod_autoscaler(spec.name, namespace)
    other = _serving(kube_api)
    await other.delete_serving(spec.deployment_id)
    for resource in (SERVICES, HPAS):
        assert len(k8s["delete", resource]) == 2  # someone's, then the executor's (404)
    assert len(k8s["delete", DEPLOYMENTS]) == len(k8s["delete", INGRESSES]) == 1
    assert _left(k8s, spec.deployment_id) == []
    assert (await other.observe_serving(spec.deployment_id)).exists is False


def _left(k8s: kmock.KubernetesEmulator, deployment_id: object) -> list[str]:
    """The kinds (plurals) of the deployment's objects (by its label) that kmock still holds."""
    return sorted(
        str(key[0].plural)
        for key, obj in k8s.objects.items()
        if not obj.deleted and (obj.get("metadata", {}).get("labels") or {}).get(LABEL) == str(deployment_id)
    )


async def test_deleting_a_deployment_whose_deployment_is_gone_removes_the_rest(
    k8s: kmock.KubernetesEmulator, kube_api: ApiClient
) -> None:
    """Someone deleted the Deployment; deleting the deployment still removes its Service, HPA and
    Ingress (the Ingress would otherwise route its public path to nothing, for good) and whatever
    else it has."""
    serving = _serving(kube_api)
    spec, namespace = _serving_spec(public=True), namespace_name(SERVING_OWNER)
    await serving.apply_serving(spec)
    await client.AppsV1Api(kube_api).delete_namespaced_deployment(spec.name, namespace)
    assert "secrets" in _left(k8s, spec.deployment_id)
    await serving.delete_serving(spec.deployment_id)  # the process that applied it: it knows where
    assert _left(k8s, spec.deployment_id) == []


async def test_a_process_that_never_applied_it_deletes_what_is_left_by_owner_and_revision(
    k8s: kmock.KubernetesEmulator, kube_api: ApiClient
) -> None:
    """The reconciler of a restarted worker deletes a deployment whose Deployment is gone: the
    owner and revision it stored say where the rest is (the revision's Secret included)."""
    spec, namespace = _serving_spec(public=True), namespace_name(SERVING_OWNER)
    await _serving(kube_api).apply_serving(spec)
    await client.AppsV1Api(kube_api).delete_namespaced_deployment(spec.name, namespace)
    fresh = _serving(kube_api)
    await fresh.delete_serving(spec.deployment_id)  # neither the Deployment nor a cache to go by
    assert "services" in _left(k8s, spec.deployment_id)
    await fresh.delete_serving(spec.deployment_id, owner_sub=SERVING_OWNER, revision=spec.revision)
    assert _left(k8s, spec.deployment_id) == []


async def test_a_throttling_server_is_given_the_pause_it_asks_for(
    k8s: kmock.KubernetesEmulator, kube_api: ApiClient
) -> None:
    """API Priority and Fairness says when to come back (Retry-After); asking sooner would only be
    throttled again. The executor's own back-off here is 10 ms."""
    k8s["post", JOBS] << refuse(k8s, 429, "TooManyRequests", THROTTLED, retry_after=1)
    executor, spec = _executor(kube_api), _training_spec()
    began = time.monotonic()
    await executor.start_training(spec)
    assert time.monotonic() - began >= 1.0
    assert len(k8s["post", JOBS]) == 2
