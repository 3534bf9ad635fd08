"""The cluster's missing controllers, for the platform on kmock: the Job controller and the kubelet
(each Job's container runs here as a process, with the Job's own command and environment, and its
pod and status are written as a cluster would), the pod log endpoint, and (`kubelet_serving`) the
Deployment controller and kubelet for model servers.

What runs is what the images would run: `python -m podml.trainer` (or the builder) with the pod
contract's env (signed URLs back to the platform). Only the interpreter is this one, and PATH,
HOME and PYTHONPATH point here. A Job deleted while its process runs has the process killed (cancel);
`activeDeadlineSeconds` is enforced as the Job controller does (DeadlineExceeded).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kmock
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from tests.support.kubelet_serving import ServingKubelet

ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger(__name__)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Run:
    namespace: str
    job: str
    pod: str
    process: asyncio.subprocess.Process
    output: Path
    deadline: float | None
    fallback_to_logs: bool = False
    started: float = field(default_factory=time.monotonic)


class Kubelet:
    def __init__(self, emulator: kmock.KubernetesEmulator, api: ApiClient, root: Path) -> None:
        self.batch = client.BatchV1Api(api)
        self.core = client.CoreV1Api(api)
        self.root = root
        self.runs: dict[tuple[str, str], _Run] = {}  # (namespace, Job) -> its pod's process
        self.finished: set[tuple[str, str]] = set()
        self.started: list[str] = []  # the `podml/kind` of every Job run, in order
        self._logs: dict[tuple[str, str], Path] = {}  # (namespace, pod) -> its output
        self.serving = ServingKubelet(api, root / "serving")
        emulator["get", kmock.resource("", "v1", "pods"), kmock.subresource("log")] << self._serve_log

    def _serve_log(self, request: kmock.Request) -> bytes:
        path = self._logs.get((request.namespace or "", request.name or ""))
        if path is None or not path.exists():
            return b""
        limit = int(request.params.get("limitBytes") or 0)
        data = path.read_bytes()
        return data[-limit:] if limit else data

    async def run(self, period: float = 0.2) -> None:
        while True:
            try:
                await self.sync()
            except Exception:  # a test's cluster must not die silently: say why, keep going
                log.exception("test kubelet")
            await asyncio.sleep(period)

    async def stop(self) -> None:
        for run in self.runs.values():
            with contextlib.suppress(ProcessLookupError):
                run.process.kill()
            await run.process.wait()
        self.runs.clear()
        await self.serving.close()

    async def sync(self) -> None:
        jobs = {
            (j.metadata.namespace, j.metadata.name): j
            for j in (await self.batch.list_job_for_all_namespaces()).items
        }
        for key, run in list(self.runs.items()):
            if key not in jobs:  # deleted (cancelled): the pods go with it
                with contextlib.suppress(ProcessLookupError):
                    run.process.kill()
                await run.process.wait()
                del self.runs[key]
                with contextlib.suppress(client.ApiException):
                    await self.core.delete_namespaced_pod(run.pod, run.namespace)
            elif run.process.returncode is not None:
                await self._finish(run, run.process.returncode)
                del self.runs[key]
            elif run.deadline is not None and time.monotonic() > run.deadline:
                run.process.kill()
                await run.process.wait()
                await self._finish(run, None)
                del self.runs[key]
        for key, job in jobs.items():
            if key not in self.runs and key not in self.finished and not _done(job):
                await self._start(job)
        await self.serving.sync()

    async def _start(self, job: Any) -> None:
        namespace, name = job.metadata.namespace, job.metadata.name
        template = job.spec.template
        container = template.spec.containers[0]
        pod = f"{name}-{uuid.uuid4().hex[:5]}"
        home = self.root / namespace / pod
        home.mkdir(parents=True)
        env = {e.name: e.value for e in container.env or []}
        termination = home / "termination-log"  # the kubelet mounts one file per container
        if container.termination_message_path and env.get("TERMINATION_MESSAGE_PATH") == (
            container.termination_message_path
        ):
            env["TERMINATION_MESSAGE_PATH"] = str(termination)
        env.update(PATH=os.environ["PATH"], HOME=str(home), TMPDIR=str(home), PYTHONPATH=str(ROOT / "src"))
        output = home / "output.log"
        with output.open("wb") as sink:
            process = await asyncio.create_subprocess_exec(
                sys.executable, *container.command[1:], env=env, cwd=home, stdout=sink, stderr=sink
            )
        deadline = job.spec.active_deadline_seconds
        self.runs[(namespace, name)] = _Run(
            namespace,
            name,
            pod,
            process,
            output,
            time.monotonic() + deadline if deadline else None,
            fallback_to_logs=container.termination_message_policy == "FallbackToLogsOnError",
        )
        self._logs[(namespace, pod)] = output
        self.started.append((job.metadata.labels or {}).get("podml/kind", ""))
        labels = {**(template.metadata.labels or {}), "job-name": name}
        body: Any = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": pod, "namespace": namespace, "labels": labels},
            "spec": {"containers": [{"name": container.name, "image": container.image}]},
            "status": {
                "phase": "Running",
                "startTime": _now(),
                "containerStatuses": [_container(container, {"running": {"startedAt": _now()}})],
            },
        }
        await self.core.create_namespaced_pod(namespace, body)
        await self.batch.patch_namespaced_job_status(
            name, namespace, {"status": {"active": 1, "startTime": _now()}}
        )

    async def _finish(self, run: _Run, code: int | None) -> None:
        """Write the pod's end and the Job's: `code` None means the deadline killed it (and, as the
        Job controller does, deleted its pods)."""
        self.finished.add((run.namespace, run.job))
        if code is None:
            await self.core.delete_namespaced_pod(run.pod, run.namespace)
            await self._job_status(run, None)
            return
        container = (await self.core.read_namespaced_pod(run.pod, run.namespace)).spec.containers[0]
        exit_code = 137 if code < 0 else code
        reason = "Completed" if exit_code == 0 else "Error"
        terminated = {"exitCode": exit_code, "reason": reason, "finishedAt": _now()}
        message = run.output.with_name("termination-log")
        if message.exists() and message.read_text().strip():
            terminated["message"] = message.read_text()[:4096]
        elif exit_code != 0 and run.fallback_to_logs:  # FallbackToLogsOnError: the log's end
            terminated["message"] = "\n".join(run.output.read_text(errors="replace").splitlines()[-80:])[
                -2048:
            ]
        await self.core.patch_namespaced_pod_status(
            run.pod,
            run.namespace,
            {
                "status": {
                    "phase": "Succeeded" if exit_code == 0 else "Failed",
                    "containerStatuses": [_container(container, {"terminated": terminated})],
                }
            },
        )
        await self._job_status(run, code)

    async def _job_status(self, run: _Run, code: int | None) -> None:
        if code == 0:
            status: dict[str, Any] = {
                "active": 0,
                "succeeded": 1,
                "completionTime": _now(),
                "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": _now()}],
            }
        else:
            condition = (
                {"reason": "DeadlineExceeded", "message": "Job was active longer than specified deadline"}
                if code is None
                else {
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                }
            )
            status = {
                "active": 0,
                "failed": 1,
                "conditions": [
                    {"type": "Failed", "status": "True", "lastTransitionTime": _now(), **condition}
                ],
            }
        await self.batch.patch_namespaced_job_status(run.job, run.namespace, {"status": status})


def _done(job: Any) -> bool:
    status = job.status
    return status is not None and bool((status.succeeded or 0) or (status.failed or 0))


def _container(container: Any, state: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": container.name,
        "image": container.image,
        "imageID": "",
        "ready": "running" in state,
        "restartCount": 0,
        "state": state,
    }


@contextlib.asynccontextmanager
async def running(kubelet: Kubelet) -> AsyncIterator[Kubelet]:
    """The kubelet at work (its sync loop) until the block ends; then its processes are stopped."""
    task = asyncio.create_task(kubelet.run())
    try:
        yield kubelet
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await kubelet.stop()
