"""The platform (API and reconciler) restarted while a training Job runs on Kubernetes: the new
platform finds the Job by its labels and settles it (succeeded, metrics, model version, logs), and
no second Job is ever created. The local executor's counterpart is `tests/e2e/test_restart.py`.

One API server (kmock, on its thread) and one test kubelet live through both platforms, which share
the database, the data folder and the port (the pod's signed URLs point there). Nothing is left to
timing: the kubelet can freeze a trainer's process (SIGSTOP) the moment it starts it, so the Job
cannot end before the test lets it, or keep a finished trainer's Job active until `release`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kmock
import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient, Configuration

from podml.config import Settings
from podml.executors.base import Observation, Phase
from podml.executors.kubernetes import KubernetesExecutor
from tests.conftest import make_settings
from tests.kubernetes.conftest import kubernetes_emulator_thread
from tests.support.api import ApiUser
from tests.support.csvs import linear_csv
from tests.support.kubelet import Kubelet
from tests.support.kubelet import running as kubelet_running
from tests.support.live import Live, live_app, live_port

pytestmark = pytest.mark.timeout(180)
JOBS = kmock.resource("batch", "v1", "jobs")


class HoldingKubelet(Kubelet):
    """The test kubelet, with two holds on training Jobs (never on build Jobs): `freeze` stops each
    trainer's process as soon as it is started; `hold` leaves a trainer that has exited unreported
    (its pod running, its Job active) until `release`."""

    freeze = False
    hold = False

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.frozen: list[Any] = []  # the frozen trainers' runs
        self.held: list[tuple[Any, int | None]] = []  # (run, exit code) of the unreported ones
        self.trainers: set[str] = set()  # the training Jobs' names (a build's is `train-<id>` too)

    async def _start(self, job: Any) -> None:
        await super()._start(job)
        if job.metadata.labels.get("podml/kind") != "train":
            return
        self.trainers.add(job.metadata.name)
        if self.freeze:
            run = self.runs[(job.metadata.namespace, job.metadata.name)]
            os.kill(run.process.pid, signal.SIGSTOP)
            self.frozen.append(run)

    async def _finish(self, run: Any, code: int | None) -> None:
        if self.hold and run.job in self.trainers:
            self.finished.add((run.namespace, run.job))  # so that it is not started again
            self.held.append((run, code))
            return
        await super()._finish(run, code)

    def thaw(self) -> None:
        for run in self.frozen:
            os.kill(run.process.pid, signal.SIGCONT)

    async def release(self) -> None:
        self.hold = False
        held, self.held = self.held, []
        for run, code in held:
            await super()._finish(run, code)


def process_state(pid: int) -> str:
    """R, S, T (stopped), Z (exited, not reaped yet): the kernel's word for a process."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


async def until(condition: Callable[[], bool], what: Callable[[], object], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s: {what()}"
        await asyncio.sleep(0.05)


@dataclass
class Cluster:
    emulator: kmock.KubernetesEmulator
    kube: ApiClient
    kubelet: HoldingKubelet
    settings: Settings

    @contextlib.asynccontextmanager
    async def platform(self) -> AsyncIterator[tuple[Live, list[tuple[str, Phase]]]]:
        """One life of the platform, and all its executor observes, as (job id, phase), from its
        first reconcile pass on."""
        seen: list[tuple[str, Phase]] = []
        observe = KubernetesExecutor.observe_training

        async def spy(executor: KubernetesExecutor, job_id: uuid.UUID) -> Observation:
            observation = await observe(executor, job_id)
            seen.append((str(job_id), observation.phase))
            return observation

        # The same Settings object for both lives: the app drops its closed API client itself.
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(KubernetesExecutor, "observe_training", spy)
            async with live_app(self.settings) as live:
                live.kubelet = self.kubelet
                yield live, seen

    async def job(self, name: str) -> Any:
        jobs = (await client.BatchV1Api(self.kube).list_job_for_all_namespaces()).items
        found = [job for job in jobs if job.metadata.name == name]
        assert len(found) == 1, [job.metadata.name for job in jobs]
        return found[0]

    def creates(self, name: str) -> int:
        """How many times the platform asked the API server for a Job of that name."""
        return sum(r.data.get("metadata", {}).get("name") == name for r in self.emulator["post", JOBS])


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    with kubernetes_emulator_thread() as (emulator, url):
        settings = make_settings(
            tmp_path / "data",
            f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
            port=live_port(),
            executor="kubernetes",
            kubernetes_api_url=url,
            reconcile_interval_seconds=0.5,
            reconcile_busy_interval_seconds=0.1,
            run_reconciler=True,
        )
        async with ApiClient(Configuration(host=url)) as kube:
            kubelet = HoldingKubelet(emulator, kube, tmp_path / "pods")
            async with kubelet_running(kubelet):
                yield Cluster(emulator, kube, kubelet, settings)


async def start_job(live: Live) -> tuple[ApiUser, str]:
    user = await live.api.new_user()
    configuration = await live.configuration(user, linear_csv(200), ["x"], "y")
    return user, (await live.train(user, configuration["id"]))["id"]


async def assert_settled(cluster: Cluster, live: Live, user: ApiUser, job_id: str) -> None:
    """Succeeded with its metrics, logs and a ready model version, from the only Job it ever had."""
    done = await live.wait(user, job_id, timeout=90)
    assert done["status"] == "succeeded", done
    assert done["error"] is None, done
    assert done["executor"] == "kubernetes"
    assert done["metrics"]["metrics"]["r2"] > 0.99, done["metrics"]
    assert done["model_version_id"], done
    version = await live.wait_version(user, done["model_version_id"])
    assert version["status"] == "ready", version
    logs = (await live.api.client.get(f"/api/jobs/{job_id}/logs", headers=user.headers)).json()
    assert "downloading the dataset" in logs["logs"], logs
    creates = cluster.creates(f"train-{job_id}")
    assert creates == 1, f"the platform created the Job {creates} times"
    assert cluster.kubelet.started.count("train") == 1


async def test_a_job_running_when_the_platform_restarts_is_adopted_and_succeeds(cluster: Cluster) -> None:
    kubelet = cluster.kubelet
    kubelet.freeze = True
    async with cluster.platform() as (first, seen):
        user, job_id = await start_job(first)
        await until(lambda: bool(kubelet.frozen), lambda: kubelet.runs)
        await until(lambda: (job_id, Phase.RUNNING) in seen, lambda: seen)  # the platform saw it run
        [run] = kubelet.frozen
        await until(lambda: process_state(run.process.pid) == "T", lambda: process_state(run.process.pid))
        # Frozen before its first line (and so before any request to the platform): mid-job for sure.
        assert run.output.read_text() == "", run.output.read_text()
        assert not (await cluster.job(f"train-{job_id}")).status.succeeded
    # Down: the Job runs on (frozen) in the cluster, and the database still says running.
    assert (await cluster.job(f"train-{job_id}")).status.active == 1

    async with cluster.platform() as (second, seen):
        # Adopted: found by its labels by an executor that never created it, not failed as lost.
        await until(lambda: any(job == job_id for job, _ in seen), lambda: seen)
        assert {phase for job, phase in seen if job == job_id} == {Phase.RUNNING}, seen
        shown = (await second.api.client.get(f"/api/jobs/{job_id}", headers=user.headers)).json()
        assert shown["status"] == "running", shown
        kubelet.thaw()  # the trainer goes on, talking to the new platform through the same URLs
        await assert_settled(cluster, second, user, job_id)


async def test_a_job_that_ends_while_the_platform_is_down_is_settled_as_succeeded(cluster: Cluster) -> None:
    kubelet = cluster.kubelet
    kubelet.hold = True
    async with cluster.platform() as (first, seen):
        user, job_id = await start_job(first)
        await until(lambda: bool(kubelet.held), lambda: (seen, kubelet.runs), timeout=90)
        [(_, code)] = kubelet.held
        assert code == 0, kubelet.held  # the trainer is done; its Job is not, yet
        await until(lambda: (job_id, Phase.RUNNING) in seen, lambda: seen)
        shown = (await first.api.client.get(f"/api/jobs/{job_id}", headers=user.headers)).json()
        assert shown["status"] == "running", shown
    await kubelet.release()  # the Job controller writes the Job's end while no platform watches
    assert (await cluster.job(f"train-{job_id}")).status.succeeded == 1

    async with cluster.platform() as (second, _):
        await assert_settled(cluster, second, user, job_id)
