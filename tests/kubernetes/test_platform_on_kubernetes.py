"""The platform with PODML_EXECUTOR=kubernetes against kmock: the same reconciler, trainer and
builder, with the test as the kubelet. It runs each Job's container command with the Job's own
environment (the pod contract: signed URLs back to the platform) and writes the Job's status as
the Job controller would. A configuration trains, its version builds, and the model is
registered, exactly as with the local executor."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

import kmock
import pytest
from kmock._internal.rendering import Response
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from podml.executors import factory
from tests.conftest import make_settings
from tests.deployments.helpers import deploy, upload_version
from tests.support.csvs import linear_csv
from tests.support.kubelet import Kubelet
from tests.support.live import Live, live_app, live_port

pytestmark = pytest.mark.timeout(240)
ROOT = Path(__file__).resolve().parents[2]


async def kubelet(api: ApiClient, ran: dict[str, str], tmp: Path) -> None:
    """Run every Job not run yet, then write its status (succeeded, or failed with the exit code)."""
    batch = client.BatchV1Api(api)
    for job in (await batch.list_job_for_all_namespaces()).items:
        name, namespace = job.metadata.name, job.metadata.namespace
        if name in ran:
            continue
        ran[name] = job.metadata.labels["podml/kind"]
        container = job.spec.template.spec.containers[0]
        env = {e.name: e.value for e in container.env or []}
        home = tmp / name
        home.mkdir(parents=True)
        env.update(PATH=os.environ["PATH"], HOME=str(home), TMPDIR=str(home), PYTHONPATH=str(ROOT / "src"))
        command = [sys.executable, *container.command[1:]]  # the image's python is this one here
        process = await asyncio.create_subprocess_exec(*command, env=env, cwd=home)
        await batch.patch_namespaced_job_status(name, namespace, {"status": {"active": 1}})
        code = await process.wait()
        status = {"active": 0, "succeeded": 1} if code == 0 else {"active": 0, "failed": 1}
        await batch.patch_namespaced_job_status(name, namespace, {"status": status})


async def test_a_configuration_trains_as_kubernetes_jobs(
    k8s_server: tuple[kmock.KubernetesEmulator, str], kube_api: ApiClient, tmp_path: Path
) -> None:
    _, url = k8s_server
    settings = make_settings(
        tmp_path / "data",
        f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        port=live_port(),
        executor="kubernetes",
        kubernetes_api_url=url,
        reconcile_interval_seconds=0.3,
        reconcile_busy_interval_seconds=0.1,
        run_reconciler=True,
    )
    ran: dict[str, str] = {}
    try:
        await _train_and_build(settings, kube_api, ran, tmp_path)
    finally:
        factory._kube.clear()  # the API client belongs to this test's emulator


async def _train_and_build(settings: Any, kube_api: ApiClient, ran: dict[str, str], tmp_path: Path) -> None:
    async with live_app(settings) as live:
        assert isinstance(live, Live)
        user = await live.api.new_user()
        configuration = await live.configuration(user, linear_csv(120), ["x"], "y")
        job = await live.train(user, configuration["id"])
        deadline = time.monotonic() + 180
        while True:
            await kubelet(kube_api, ran, tmp_path / "pods")
            current = (await live.api.client.get(f"/api/jobs/{job['id']}", headers=user.headers)).json()
            if current["status"] in ("succeeded", "failed") and current.get("model_version_id"):
                answer = await live.api.client.get(
                    f"/api/model-versions/{current['model_version_id']}", headers=user.headers
                )
                version = answer.json()
                if version["status"] != "building":
                    break
            elif current["status"] == "failed":
                break
            assert time.monotonic() < deadline, current
            await asyncio.sleep(0.2)
        assert current["status"] == "succeeded", current
        assert current["executor"] == "kubernetes"
        assert current["metrics"]["metrics"]["r2"] > 0.99
        assert version["status"] == "ready", version
        namespaces = (await client.CoreV1Api(kube_api).list_namespace()).items
        assert [n.metadata.name for n in namespaces] == [f"user-{user.sub}"]
        assert sorted(ran.values()) == ["build", "train"]
        # Finished Jobs are deleted once their logs are copied (their pods with them).
        assert (await client.BatchV1Api(kube_api).list_job_for_all_namespaces()).items == []


async def test_a_job_whose_image_cannot_be_pulled_says_so_while_it_waits(
    k8s_server: tuple[kmock.KubernetesEmulator, str], kube_api: ApiClient, tmp_path: Path
) -> None:
    _, url = k8s_server
    settings = make_settings(
        tmp_path / "data",
        f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        port=live_port(),
        executor="kubernetes",
        kubernetes_api_url=url,
        reconcile_interval_seconds=0.3,
        reconcile_busy_interval_seconds=0.1,
        run_reconciler=True,
    )
    core, batch = client.CoreV1Api(kube_api), client.BatchV1Api(kube_api)
    try:
        async with live_app(settings) as live:
            user = await live.api.new_user()
            configuration = await live.configuration(user, linear_csv(40), ["x"], "y")
            job = await live.train(user, configuration["id"])
            for _ in range(300):
                if jobs := (await batch.list_job_for_all_namespaces()).items:
                    break
                await asyncio.sleep(0.1)
            template = jobs[0].spec.template
            pod: Any = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{jobs[0].metadata.name}-p9x2z",
                    "namespace": jobs[0].metadata.namespace,
                    "labels": template.metadata.labels,
                },
                "spec": {"containers": [{"name": "trainer", "image": "podml-trainer:0.1.0"}]},
                "status": {
                    "containerStatuses": [
                        {
                            "name": "trainer",
                            "image": "podml-trainer:0.1.0",
                            "imageID": "",
                            "ready": False,
                            "restartCount": 0,
                            "state": {
                                "waiting": {
                                    "reason": "ImagePullBackOff",
                                    "message": 'Back-off pulling image "podml-trainer:0.1.0"',
                                }
                            },
                        }
                    ]
                },
            }
            await core.create_namespaced_pod(jobs[0].metadata.namespace, pod)
            deadline = time.monotonic() + 30
            while True:
                shown = (await live.api.client.get(f"/api/jobs/{job['id']}", headers=user.headers)).json()
                if "ImagePullBackOff" in (shown["status_message"] or ""):
                    break
                assert time.monotonic() < deadline, shown
                await asyncio.sleep(0.1)
            assert shown["status"] == "running"
            assert shown["status_message"] == (
                'pending: ImagePullBackOff: Back-off pulling image "podml-trainer:0.1.0"'
            )
            cancel = await live.api.client.post(f"/api/jobs/{job['id']}/cancel", headers=user.headers)
            assert cancel.status_code == 202
            assert (await live.wait(user, job["id"]))["status"] == "cancelled"
    finally:
        factory._kube.pop(id(settings), None)


async def test_a_deployment_kubernetes_refuses_fails_with_the_api_servers_words(
    k8s_server: tuple[kmock.KubernetesEmulator, str], kube_api: ApiClient, tmp_path: Path
) -> None:
    emulator, url = k8s_server
    settings = make_settings(
        tmp_path / "data",
        f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        port=live_port(),
        executor="kubernetes",
        kubernetes_api_url=url,
        reconcile_interval_seconds=0.3,
        reconcile_busy_interval_seconds=0.1,
        run_reconciler=True,
    )
    # A cluster whose quota counts Deployments: the API server refuses the first one.
    message = (
        'deployments.apps "model-x" is forbidden: exceeded quota: podml-quota, requested: '
        "count/deployments.apps=1, used: count/deployments.apps=2, limited: count/deployments.apps=2"
    )
    refusal = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 403, "message": message}
    refusals = iter([Response(status=403, payload=refusal)])
    emulator["post", kmock.resource("apps", "v1", "deployments")] << (lambda: next(refusals))
    kubelet = Kubelet(emulator, kube_api, tmp_path / "pods")
    running = asyncio.create_task(kubelet.run())
    try:
        async with live_app(settings) as live:
            user = await live.api.new_user()
            version = await upload_version(live.api.client, user, "refused")
            assert (await live.wait_version(user, version["id"]))["status"] == "ready"
            created = await deploy(live.api.client, user, version["id"])
            failed = await live.wait_deployment(user, created["id"], {"failed"})
            assert failed["reason"] == f"Kubernetes refused the Deployment model-{created['id']}: {message}"

            # Once the owner changes it, it is asked again at once (the quota has room now).
            changed = await live.api.client.patch(
                f"/api/deployments/{created['id']}", headers=user.headers, json={"max_replicas": 2}
            )
            assert changed.status_code == 200, changed.text
            ready = await live.wait_deployment(user, created["id"], {"ready"}, timeout=60)
            answer = await live.api.client.post(
                f"/api/v1/predict/{created['id']}", headers=user.headers, json={"instances": [[1.0, 0.0]]}
            )
            assert answer.json()["predictions"] == [3.0], answer.text
            assert ready["reason"] is None
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await kubelet.stop()
        factory._kube.pop(id(settings), None)
