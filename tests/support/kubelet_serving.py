"""The Deployment controller and the kubelet for model servers, for the platform on kmock.

Each pod of a PodML Deployment is a model-server process (`python -m podml.serving` with the pod
template's env, as the kubeserve-base image runs it) listening on its own loopback "pod IP"
(127.0.1.N:8080; Linux routes all of 127/8 to the loopback). Like the real ones:

* a pod is Ready once its readiness probe (`GET /ready`) answers 200;
* a container that exits is restarted in the same pod after a back-off, its restart count and last
  termination (exit code, termination message or, `FallbackToLogsOnError`, the log's end) recorded,
  and `CrashLoopBackOff` shown while it waits;
* a new template revision is a rolling update with `maxUnavailable: 0`: the new pods start, and the
  old ones are deleted (endpoints first) and sent SIGTERM once the new ones are all ready;
* the Deployment's status (replicas, ready, updated, available) follows the pods; a deleted
  Deployment takes its pods with it.
The HPA is not played: the replica count is the Deployment's `spec.replicas`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import itertools
import os
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

ROOT = Path(__file__).resolve().parents[2]
LABEL_DEPLOYMENT = "podml/deployment"
LABEL_REVISION = "podml/revision"
_addresses = itertools.count(1)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Replica:
    name: str
    namespace: str
    revision: str
    ip: str
    home: Path
    container: Any
    process: asyncio.subprocess.Process | None = None
    ready: bool = False
    restarts: int = 0
    last_terminated: dict[str, Any] | None = None
    waiting_until: float = 0.0  # CrashLoopBackOff until then
    started_at: str = field(default_factory=_now)
    written: Any = None  # the status last written (to write only changes)


class ServingKubelet:
    def __init__(self, api: ApiClient, root: Path) -> None:
        self.apps = client.AppsV1Api(api)
        self.core = client.CoreV1Api(api)
        self.root = root
        self.pods: dict[tuple[str, str], dict[str, Replica]] = {}  # (namespace, Deployment) -> pods
        self.http = httpx.AsyncClient(timeout=0.5)
        self.draining: set[asyncio.subprocess.Process] = set()

    async def close(self) -> None:
        for pods in self.pods.values():
            for replica in pods.values():
                await self._kill(replica)
        self.pods.clear()
        for process in self.draining:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        await self.http.aclose()

    def kill(self, deployment_id: str) -> Replica:
        """SIGKILL one running model server of the deployment (as an OOM kill would)."""
        for (_, name), pods in self.pods.items():
            if name == f"model-{deployment_id}":
                for replica in pods.values():
                    if replica.process is not None and replica.process.returncode is None:
                        replica.process.send_signal(signal.SIGKILL)
                        return replica
        raise AssertionError(f"no running model server for {deployment_id}")

    async def sync(self) -> None:
        listed = await self.apps.list_deployment_for_all_namespaces(label_selector=LABEL_DEPLOYMENT)
        deployments = {
            (d.metadata.namespace, d.metadata.name): d
            for d in listed.items
            if LABEL_DEPLOYMENT in (d.metadata.labels or {})
        }
        for key in [k for k in self.pods if k not in deployments]:  # deleted: its pods go too
            for replica in self.pods.pop(key).values():
                await self._delete(replica, drain=False)
        for key, item in deployments.items():
            await self._reconcile(key, item)

    async def _reconcile(self, key: tuple[str, str], item: Any) -> None:
        pods = self.pods.setdefault(key, {})
        template = item.spec.template
        revision = (template.metadata.labels or {}).get(LABEL_REVISION, "0")
        desired = item.spec.replicas if item.spec.replicas is not None else 1
        current = [r for r in pods.values() if r.revision == revision]
        for _ in range(desired - len(current)):
            replica = await self._create(key, template, revision)
            pods[replica.name] = replica
            current.append(replica)
        for extra in current[desired:]:  # scaled down
            await self._delete(pods.pop(extra.name), drain=True)
        for replica in list(pods.values()):
            await self._run(replica)
        current = [r for r in pods.values() if r.revision == revision]
        if all(r.ready for r in current):  # the rollout's new pods are all ready: old ones go
            for old in [r for r in pods.values() if r.revision != revision]:
                await self._delete(pods.pop(old.name), drain=True)
        ready = sum(r.ready for r in pods.values())
        status = {
            "observedGeneration": item.metadata.generation or 1,
            "replicas": len(pods),
            "updatedReplicas": len(current),
            "readyReplicas": ready,
            "availableReplicas": ready,
        }
        known = item.status.to_dict() if item.status is not None else {}
        if (known.get("replicas"), known.get("ready_replicas"), known.get("updated_replicas")) != (
            status["replicas"],
            status["readyReplicas"],
            status["updatedReplicas"],
        ):
            await self.apps.patch_namespaced_deployment_status(key[1], key[0], {"status": status})

    async def _create(self, key: tuple[str, str], template: Any, revision: str) -> Replica:
        namespace, deployment = key
        name = f"{deployment}-{uuid.uuid4().hex[:10]}"
        number = next(_addresses)
        ip = f"127.0.{1 + number // 250}.{1 + number % 250}"
        home = self.root / namespace / name
        home.mkdir(parents=True)
        replica = Replica(name, namespace, revision, ip, home, template.spec.containers[0])
        body: Any = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(template.metadata.labels)},
            "spec": {"containers": [{"name": replica.container.name, "image": replica.container.image}]},
            "status": self._status(replica),
        }
        await self.core.create_namespaced_pod(namespace, body)
        replica.written = body["status"]
        return replica

    async def _run(self, replica: Replica) -> None:
        """Start, probe, notice an exit, restart after a back-off; then write the pod's status."""
        process = replica.process
        if process is not None and process.returncode is not None:
            replica.last_terminated = self._terminated(replica, process.returncode)
            replica.process, replica.ready = None, False
            replica.restarts += 1
            replica.waiting_until = time.monotonic() + min(0.5 * 2 ** (replica.restarts - 1), 4.0)
        if replica.process is None and time.monotonic() >= replica.waiting_until:
            await self._start(replica)
        elif replica.process is not None and not replica.ready:
            with contextlib.suppress(httpx.HTTPError):
                replica.ready = (await self.http.get(f"http://{replica.ip}:8080/ready")).status_code == 200
        status = self._status(replica)
        if status != replica.written:
            await self.core.patch_namespaced_pod_status(replica.name, replica.namespace, {"status": status})
            replica.written = status

    async def _start(self, replica: Replica) -> None:
        container = replica.container
        env: dict[str, str] = {}
        for source in container.env_from or []:  # read at each container start, as a kubelet does
            if source.secret_ref is not None:
                secret = await self.core.read_namespaced_secret(source.secret_ref.name, replica.namespace)
                env.update({k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()})
        env.update({e.name: e.value for e in container.env or []})
        if env.get("TERMINATION_MESSAGE_PATH") == container.termination_message_path:
            env["TERMINATION_MESSAGE_PATH"] = str(replica.home / "termination-log")
        env.update(
            HOST=replica.ip,
            PATH=os.environ["PATH"],
            HOME=str(replica.home),
            TMPDIR=str(replica.home),
            PYTHONPATH=str(ROOT / "src"),
        )
        (replica.home / "termination-log").unlink(missing_ok=True)
        with (replica.home / "output.log").open("ab") as sink:
            replica.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "podml.serving", env=env, cwd=replica.home, stdout=sink, stderr=sink
            )
        replica.started_at = _now()

    def _terminated(self, replica: Replica, code: int) -> dict[str, Any]:
        exit_code = 128 - code if code < 0 else code  # a signal: 128 + its number, as a runtime says
        terminated: dict[str, Any] = {"exitCode": exit_code, "reason": "Error", "finishedAt": _now()}
        written = replica.home / "termination-log"
        if written.exists() and written.read_text().strip():
            terminated["message"] = written.read_text()[:4096]
        elif replica.container.termination_message_policy == "FallbackToLogsOnError":
            lines = (replica.home / "output.log").read_text(errors="replace").splitlines()[-80:]
            terminated["message"] = "\n".join(lines)[-2048:]
        return terminated

    def _status(self, replica: Replica) -> dict[str, Any]:
        if replica.process is not None:
            state: dict[str, Any] = {"running": {"startedAt": replica.started_at}}
        elif replica.last_terminated is not None:
            state = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off restarting"}}
        else:
            state = {"waiting": {"reason": "ContainerCreating"}}
        container: dict[str, Any] = {
            "name": replica.container.name,
            "image": replica.container.image,
            "imageID": "",
            "ready": replica.ready,
            "restartCount": replica.restarts,
            "state": state,
        }
        if replica.last_terminated is not None:
            container["lastState"] = {"terminated": replica.last_terminated}
        return {
            "phase": "Running",
            "podIP": replica.ip,
            "startTime": replica.started_at,
            "conditions": [{"type": "Ready", "status": "True" if replica.ready else "False"}],
            "containerStatuses": [container],
        }

    async def _delete(self, replica: Replica, *, drain: bool) -> None:
        """The pod object goes first (endpoints drop it), then SIGTERM: it drains and exits."""
        with contextlib.suppress(client.ApiException):
            await self.core.delete_namespaced_pod(replica.name, replica.namespace)
        if replica.process is not None and replica.process.returncode is None:
            if drain:
                replica.process.send_signal(signal.SIGTERM)  # it drains, then exits on its own
                self.draining.add(replica.process)
            else:
                await self._kill(replica)

    async def _kill(self, replica: Replica) -> None:
        if replica.process is not None and replica.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                replica.process.kill()
            await replica.process.wait()
