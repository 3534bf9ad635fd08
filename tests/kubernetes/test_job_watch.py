"""Training status by watch with periodic resync (`kubernetes_watch.Informer`) against kmock: in the
steady state an observation makes no API call; a change the watch never delivered shows after the
resync; a watch the server refuses (a role that may list but not watch) degrades to relisting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import kmock
import pytest
from kmock._internal.rendering import Response
from kubernetes_asyncio.client import ApiClient

from podml.executors.base import Observation, Phase
from podml.executors.kubernetes import KubernetesExecutor
from podml.executors.kubernetes_api import KubeApi
from podml.kubernetes.namespaces import namespace_name
from tests.kubernetes.test_executor_training import IMAGE, OWNER, _job_status, _pod, _spec

JOBS = kmock.resource("batch", "v1", "jobs")


@pytest.fixture
async def watching(kube_api: ApiClient) -> AsyncIterator[KubernetesExecutor]:
    executor = KubernetesExecutor(
        KubeApi(kube_api, retry_delays=(0.01,)), trainer_image=IMAGE, resync_seconds=1.0
    )
    executor.jobs.retry_seconds = executor.pods.retry_seconds = 0.1
    await executor.prepare()
    try:
        yield executor
    finally:
        await executor.jobs.stop()
        await executor.pods.stop()


async def _until(check: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def _observe_until(executor: KubernetesExecutor, job_id: object, phase: Phase) -> Observation:
    deadline = time.monotonic() + 10
    while True:
        seen = await executor.observe_training(job_id)  # type: ignore[arg-type]
        if seen.phase == phase or time.monotonic() > deadline:
            return seen
        await asyncio.sleep(0.02)


async def test_status_arrives_by_watch_with_no_reads(
    k8s: kmock.KubernetesEmulator, kube_api: ApiClient, watching: KubernetesExecutor
) -> None:
    spec = _spec()
    await watching.start_training(spec)
    await _until(lambda: watching.jobs.get(namespace_name(OWNER), spec.name) is not None)
    await _pod(kube_api, spec, {"running": {"startedAt": "2026-11-23T10:00:00Z"}})
    assert (await _observe_until(watching, spec.job_id, Phase.RUNNING)).phase == Phase.RUNNING

    await _job_status(kube_api, spec, {"succeeded": 1})
    requests_before = len(list(k8s))
    seen = await _observe_until(watching, spec.job_id, Phase.SUCCEEDED)
    assert seen == Observation(Phase.SUCCEEDED, exit_code=0)
    # Observations came from the watched cache: no read of the Job, no list of its pods.
    assert len(list(k8s)) == requests_before


async def test_a_change_the_watch_missed_shows_after_the_resync(
    k8s: kmock.KubernetesEmulator, watching: KubernetesExecutor
) -> None:
    spec = _spec()
    await watching.start_training(spec)
    await _until(lambda: watching.jobs.get(namespace_name(OWNER), spec.name) is not None)
    lists = watching.jobs.lists
    # Written behind the API's back: no watch event is ever sent for this change.
    k8s.objects["batch/v1/jobs", namespace_name(OWNER), spec.name].patch({"status": {"succeeded": 1}})
    assert (await watching.observe_training(spec.job_id)).phase == Phase.PENDING  # not seen yet
    seen = await _observe_until(watching, spec.job_id, Phase.SUCCEEDED)
    assert seen.phase == Phase.SUCCEEDED
    assert watching.jobs.lists > lists  # it came from a relist


async def test_a_refused_watch_falls_back_to_relisting(
    k8s: kmock.KubernetesEmulator, kube_api: ApiClient, watching: KubernetesExecutor
) -> None:
    refusal = {"kind": "Status", "code": 403, "reason": "Forbidden", "message": "cannot watch jobs"}
    k8s[kmock.action.WATCH, JOBS] << Response(status=403, payload=refusal)
    spec = _spec()
    await watching.start_training(spec)
    await _job_status(
        kube_api,
        spec,
        {
            "failed": 1,
            "conditions": [
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "too many"}
            ],
        },
    )
    seen = await _observe_until(watching, spec.job_id, Phase.FAILED)
    assert seen.phase == Phase.FAILED
    assert seen.reason == "BackoffLimitExceeded: too many"
    await _until(lambda: watching.jobs.lists >= 3)  # it keeps relisting while watches are refused
