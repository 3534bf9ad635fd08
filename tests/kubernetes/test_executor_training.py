"""KubernetesExecutor's training half against kmock: the tests play the Job controller and the
kubelet by writing Job and pod status, inject API errors, and restart the executor mid-job."""

from __future__ import annotations

import uuid
from typing import Any

import kmock
import pytest
from kmock._internal.rendering import Response
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from podml.executors.base import ExecutorError, Phase, TrainingJobSpec
from podml.executors.kubernetes import KubernetesExecutor
from podml.executors.kubernetes_api import KubeApi
from podml.kubernetes.namespaces import namespace_name
from podml.kubernetes.training import training_job
from podml.resources import Resources
from tests.kubernetes.conftest import refuse

IMAGE = "registry.example.com/podml-trainer:0.1.0"
OWNER = "8f14e45f-ceea-467a-9575-8f5b1c3c1e2d"
JOBS = kmock.resource("batch", "v1", "jobs")


def _spec() -> TrainingJobSpec:
    return TrainingJobSpec(
        job_id=uuid.uuid4(),
        owner_sub=OWNER,
        configuration_id=uuid.uuid4(),
        env={"DATASET_URL": "https://s3.example.com/d.csv?sig=1", "Y_COLUMN": "y"},
        resources=Resources(timeout_seconds=600),
    )


def _executor(api: ApiClient) -> KubernetesExecutor:
    return KubernetesExecutor(KubeApi(api, retry_delays=(0.01, 0.01, 0.01)), trainer_image=IMAGE)


async def _pod(api: ApiClient, spec: TrainingJobSpec, state: dict[str, Any]) -> None:
    """What the Job controller and the kubelet would do: a pod for the Job, in `state`."""
    core = client.CoreV1Api(api)
    namespace = namespace_name(OWNER)
    name = f"{spec.name}-abcde"
    pod: Any = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"podml/job_id": str(spec.job_id), "job-name": spec.name},
        },
        "spec": {"containers": [{"name": "trainer", "image": IMAGE}]},
        "status": {
            "containerStatuses": [
                {
                    "name": "trainer",
                    "image": IMAGE,
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": state,
                }
            ]
        },
    }
    try:
        await core.create_namespaced_pod(namespace, pod)
    except client.ApiException:
        await core.patch_namespaced_pod_status(name, namespace, {"status": pod["status"]})


async def _job_status(api: ApiClient, spec: TrainingJobSpec, status: dict[str, Any]) -> None:
    await client.BatchV1Api(api).patch_namespaced_job_status(
        spec.name, namespace_name(OWNER), {"status": status}
    )


async def test_a_job_runs_in_its_owners_namespace_and_succeeds(
    k8s: kmock.KubernetesEmulator, kube_api: ApiClient
) -> None:
    executor = _executor(kube_api)
    spec = _spec()
    assert (await executor.observe_training(spec.job_id)).phase == Phase.MISSING
    await executor.start_training(spec)
    await executor.start_training(spec)  # idempotent: the existing Job is adopted
    namespace = namespace_name(OWNER)
    batch = client.BatchV1Api(kube_api)
    job = await batch.read_namespaced_job(spec.name, namespace)
    expected = training_job(spec, namespace, IMAGE)
    assert job.metadata.labels == expected["metadata"]["labels"]
    assert job.spec.template.spec.containers[0].image == IMAGE
    assert job.spec.active_deadline_seconds == 600
    assert job.spec.template.spec.automount_service_account_token is False
    core = client.CoreV1Api(kube_api)
    assert (await core.read_namespace(namespace)).metadata.labels[
        "pod-security.kubernetes.io/enforce"
    ] == "restricted"
    quotas = await core.list_namespaced_resource_quota(namespace)
    assert [q.spec.hard["pods"] for q in quotas.items] == ["5"]
    policies = await client.NetworkingV1Api(kube_api).list_namespaced_network_policy(namespace)
    assert "default-deny" in {p.metadata.name for p in policies.items}

    assert (await executor.observe_training(spec.job_id)).phase == Phase.PENDING
    await _pod(kube_api, spec, {"waiting": {"reason": "ImagePullBackOff", "message": "pull access denied"}})
    waiting = await executor.observe_training(spec.job_id)
    assert (waiting.phase, waiting.reason) == (Phase.PENDING, "ImagePullBackOff: pull access denied")
    await _pod(kube_api, spec, {"running": {"startedAt": "2026-11-23T10:00:00Z"}})
    await _job_status(kube_api, spec, {"active": 1})
    assert (await executor.observe_training(spec.job_id)).phase == Phase.RUNNING
    await _job_status(kube_api, spec, {"active": 0, "succeeded": 1})
    done = await executor.observe_training(spec.job_id)
    assert (done.phase, done.exit_code) == (Phase.SUCCEEDED, 0)

    # A restarted platform finds the Job again by its label.
    again = _executor(kube_api)
    assert (await again.observe_training(spec.job_id)).phase == Phase.SUCCEEDED
    await again.cleanup_training(spec.job_id)
    assert (await again.observe_training(spec.job_id)).phase == Phase.MISSING


async def test_failures_say_why(kube_api: ApiClient) -> None:
    executor = _executor(kube_api)
    oom = _spec()
    await executor.start_training(oom)
    await _pod(kube_api, oom, {"terminated": {"exitCode": 137, "reason": "OOMKilled"}})
    await _job_status(kube_api, oom, {"failed": 1})
    failed = await executor.observe_training(oom.job_id)
    assert (failed.phase, failed.exit_code, failed.reason) == (
        Phase.FAILED,
        137,
        "OOMKilled (exit code 137): it used more than its memory limit",
    )

    refused = _spec()
    await executor.start_training(refused)
    message = "too few usable rows: 3 (need at least 5)"
    await _pod(kube_api, refused, {"terminated": {"exitCode": 2, "reason": "Error", "message": message}})
    await _job_status(kube_api, refused, {"failed": 1})
    said = await executor.observe_training(refused.job_id)
    assert (said.exit_code, said.reason) == (2, f"{message} (exit code 2)")  # the trainer's words

    slow = _spec()
    await executor.start_training(slow)
    condition = {
        "type": "Failed",
        "status": "True",
        "reason": "DeadlineExceeded",
        "message": "Job was active longer than specified deadline",
    }
    await _job_status(kube_api, slow, {"failed": 0, "conditions": [condition]})
    late = await executor.observe_training(slow.job_id)
    assert (late.phase, late.reason) == (Phase.FAILED, "timed out (the job's timeout_seconds)")

    cancelled = _spec()
    await executor.start_training(cancelled)
    await executor.cancel_training(cancelled.job_id)
    assert (await executor.observe_training(cancelled.job_id)).reason == "cancelled"


async def test_api_errors_are_retried_or_reported(k8s: kmock.KubernetesEmulator, kube_api: ApiClient) -> None:
    executor = _executor(kube_api)
    # Twice a server error (nothing stored, as a real API server), then the emulator answers.
    k8s["post", JOBS] << refuse(k8s, 500, "InternalError", "etcdserver: request timed out", times=2)
    spec = _spec()
    await executor.start_training(spec)
    assert (await executor.observe_training(spec.job_id)).phase == Phase.PENDING
    assert len(k8s["post", JOBS]) == 3  # two server errors retried, then created (not adopted)


async def test_a_quota_refusal_is_the_jobs_reason(k8s: kmock.KubernetesEmulator, kube_api: ApiClient) -> None:
    message = (
        'jobs "x" is forbidden: exceeded quota: podml-quota, requested: limits.cpu=1, '
        "used: limits.cpu=2, limited: limits.cpu=2"
    )
    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 403, "reason": "Forbidden"}
    k8s["post", JOBS] << Response(status=403, payload={**status, "message": message})
    with pytest.raises(ExecutorError, match=r"Kubernetes refused the Job .*exceeded quota: podml-quota"):
        await _executor(kube_api).start_training(_spec())
    assert len(k8s["post", JOBS]) == 1  # a refusal is not retried


async def test_a_pod_the_quota_refuses_fails_the_job_with_the_controllers_words(kube_api: ApiClient) -> None:
    # On a real cluster the ResourceQuota refuses the Job's pod, not the Job: the Job controller
    # records a FailedCreate event on the Job and keeps it pending.
    executor = _executor(kube_api)
    spec = _spec()
    await executor.start_training(spec)
    core = client.CoreV1Api(kube_api)
    namespace = namespace_name(OWNER)

    async def event(name: str, type_: str, reason: str, message: str, involved: str) -> None:
        body: Any = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {"kind": "Job", "name": involved, "namespace": namespace},
            "type": type_,
            "reason": reason,
            "message": message,
        }
        await core.create_namespaced_event(namespace, body)

    refused = (
        f'Error creating: pods "{spec.name}-x7k2p" is forbidden: exceeded quota: podml-quota, '
        "requested: limits.cpu=1, used: limits.cpu=2, limited: limits.cpu=2"
    )
    await event("other.1", "Warning", "FailedCreate", "someone else's", "train-someone-else")
    assert (await executor.observe_training(spec.job_id)).phase == Phase.PENDING
    await event("job.1", "Warning", "FailedCreate", refused, spec.name)
    seen = await executor.observe_training(spec.job_id)
    assert seen.phase == Phase.FAILED
    assert seen.reason == f"Kubernetes could not create the job's pod: {refused}"
