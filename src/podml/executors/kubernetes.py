"""`KubernetesExecutor`, training half: a batch/v1 Job per training (or build) job, in the owner's
namespace `user-<sub>`, created on first use with its quota, limits and network policies
(`podml.kubernetes.namespaces`). The Job itself is `podml.kubernetes.training.training_job`.

* `start_training` is idempotent: a Job that exists already (409) is adopted, as after a restart.
* Status comes by watch: two `Informer`s (`kubernetes_watch`) list, then watch, every Job and pod
  labelled `podml/job_id`, relisting every `resync_seconds` (and after a broken watch). In the
  steady state an observation makes no API call. A Job the cache does not hold (created a moment
  ago, or the watch is down) is read from the API instead.
* `observe_training` looks at the Job (found by name in the owner's namespace, or by its
  `podml/job_id` label across namespaces when this process never saw it) and its pod: succeeded,
  failed (the container's exit code and reason, e.g. OOMKilled, or the Job's condition, e.g.
  DeadlineExceeded), running, or pending (with the pod's waiting reason: ImagePullBackOff, ...).
* `cancel_training` deletes the Job with its pods (foreground propagation); once the API server has
  accepted that, the observation is failed with the reason "cancelled" (the pod's own termination,
  up to its grace period, is Kubernetes' to finish).
* A pod the API server refuses (the namespace's ResourceQuota, Pod Security) leaves the Job with
  no pod and a `FailedCreate` event; the job then fails with the event's words.
* API errors: see `kubernetes_api` (5xx retried, quota refusals reported); 404 on delete means
  done.

The serving half (Deployment, Service, HPA per deployment) is `kubernetes_serving`.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from podml.executors.base import (
    Executor,
    Observation,
    Phase,
    TrainingJobSpec,
    training_job_name,
)
from podml.executors.kubernetes_api import KubeApi
from podml.executors.kubernetes_watch import Informer
from podml.kubernetes.training import LABEL_JOB, training_job

log = logging.getLogger(__name__)


class KubernetesExecutor(Executor):
    name = "kubernetes"

    def __init__(
        self,
        kube: KubeApi,
        *,
        trainer_image: str,
        pull_policy: str = "IfNotPresent",
        resync_seconds: float = 30.0,
    ) -> None:
        self.kube = kube
        self.core = kube.core
        self.batch = kube.batch
        self.trainer_image = trainer_image
        self.pull_policy = pull_policy
        self._where: dict[uuid.UUID, str] = {}  # job id -> namespace
        self._cancelled: set[uuid.UUID] = set()
        resync = resync_seconds
        self.jobs = Informer(
            kube, "Jobs", self.batch.list_job_for_all_namespaces, label=LABEL_JOB, resync_seconds=resync
        )
        self.pods = Informer(
            kube, "pods", self.core.list_pod_for_all_namespaces, label=LABEL_JOB, resync_seconds=resync
        )

    async def prepare(self) -> None:
        self.jobs.start()
        self.pods.start()

    # ---- training --------------------------------------------------------------------------------

    async def start_training(self, spec: TrainingJobSpec) -> None:
        namespace = await self.kube.ensure_namespace(spec.owner_sub)
        body: Any = training_job(spec, namespace, self.trainer_image, self.pull_policy)
        created = await self.kube.create(
            f"Job {spec.name}", lambda: self.batch.create_namespaced_job(namespace, body)
        )
        if not created:
            log.info("job %s: its Job exists already; adopting it", spec.job_id)
        self._where[spec.job_id] = namespace

    async def _find(self, job_id: uuid.UUID) -> tuple[str, Any] | None:
        """(namespace, Job) or None when Kubernetes has no such Job."""
        name = training_job_name(job_id)
        namespace = self._where.get(job_id)
        for cached in self.jobs.select(str(job_id)) if self.jobs.synced else ():
            if cached.metadata.name == name and namespace in (None, cached.metadata.namespace):
                self._where[job_id] = cached.metadata.namespace
                return cached.metadata.namespace, cached
        if namespace is not None:
            job = await self.kube.ask_unless_absent(
                f"read Job {name}", lambda: self.batch.read_namespaced_job(name, namespace)
            )
            return None if job is None else (namespace, job)
        listed = await self.kube.ask(
            "list Jobs",
            lambda: self.batch.list_job_for_all_namespaces(label_selector=f"{LABEL_JOB}={job_id}"),
        )
        for job in listed.items:  # the label selector is applied here too (not every server does)
            if (job.metadata.labels or {}).get(LABEL_JOB) == str(job_id) and job.metadata.name == name:
                self._where[job_id] = job.metadata.namespace
                return job.metadata.namespace, job
        return None

    async def _pods(self, namespace: str, job_id: uuid.UUID, *, fresh: bool = False) -> list[Any]:
        if self.pods.synced and not fresh:
            return [p for p in self.pods.select(str(job_id)) if p.metadata.namespace == namespace]
        listed = await self.kube.ask(
            "list pods",
            lambda: self.core.list_namespaced_pod(namespace, label_selector=f"{LABEL_JOB}={job_id}"),
        )
        return [p for p in listed.items if (p.metadata.labels or {}).get(LABEL_JOB) == str(job_id)]

    async def observe_training(self, job_id: uuid.UUID) -> Observation:
        if job_id in self._cancelled:  # its deletion was accepted: Kubernetes stops the pod
            return Observation(Phase.FAILED, reason="cancelled")
        found = await self._find(job_id)
        if found is None:
            if job_id in self._cancelled:
                return Observation(Phase.FAILED, reason="cancelled")
            return Observation(Phase.MISSING)
        namespace, job = found
        status = job.status
        if status is not None and (status.succeeded or 0) > 0:
            return Observation(Phase.SUCCEEDED, exit_code=0)
        conditions = {c.type: c for c in (status.conditions or [])} if status is not None else {}
        failed = conditions.get("Failed")
        if (status is not None and (status.failed or 0) > 0) or (
            failed is not None and failed.status == "True"
        ):
            return await self._failure(namespace, job_id, failed)
        pods = await self._pods(namespace, job_id)
        if not pods and not (status is not None and (status.active or 0) > 0):
            refusal = await self._pod_refusal(namespace, training_job_name(job_id))
            if refusal is not None:
                return Observation(Phase.FAILED, reason=refusal)
        for pod in pods:
            for state in [c.state for c in (pod.status.container_statuses or [])] if pod.status else []:
                if state is not None and state.running is not None:
                    return Observation(Phase.RUNNING)
                if (
                    state is not None
                    and state.waiting is not None
                    and state.waiting.reason not in (None, "ContainerCreating")
                ):
                    return Observation(
                        Phase.PENDING,
                        reason=f"{state.waiting.reason}: {state.waiting.message or ''}".strip(": "),
                    )
        if status is not None and (status.active or 0) > 0:
            return Observation(Phase.RUNNING)
        return Observation(Phase.PENDING)

    async def _pod_refusal(self, namespace: str, name: str) -> str | None:
        """Why the Job controller cannot create the Job's pod, from its FailedCreate event: the
        namespace's quota, or its Pod Security level. A real API server refuses the pod, not the
        Job, so the Job itself looks merely pending; its events say why."""
        selector = f"involvedObject.kind=Job,involvedObject.name={name}"
        listed = await self.kube.ask(
            f"list the events of Job {name}",
            lambda: self.core.list_namespaced_event(namespace, field_selector=selector),
        )
        for event in listed.items:  # the selector is applied here too (not every server does)
            involved = event.involved_object
            about_this_job = involved is not None and (involved.kind, involved.name) == ("Job", name)
            if about_this_job and event.reason == "FailedCreate" and event.message:
                return f"Kubernetes could not create the job's pod: {event.message}"
        return None

    async def _failure(self, namespace: str, job_id: uuid.UUID, condition: Any) -> Observation:
        if job_id in self._cancelled:
            return Observation(Phase.FAILED, reason="cancelled")
        # From the API, not the cache: the pod's last event may trail the Job's by a moment.
        for pod in await self._pods(namespace, job_id, fresh=True):
            for container in (pod.status.container_statuses or []) if pod.status else []:
                terminated = container.state.terminated if container.state else None
                if terminated is not None:
                    reason = terminated_reason(terminated)
                    return Observation(Phase.FAILED, exit_code=terminated.exit_code, reason=reason)
        if condition is not None and condition.reason == "DeadlineExceeded":
            return Observation(Phase.FAILED, reason="timed out (the job's timeout_seconds)")
        reason = condition.reason if condition is not None else "failed"
        message = getattr(condition, "message", None)
        return Observation(Phase.FAILED, reason=f"{reason}: {message}" if message else reason)

    async def cancel_training(self, job_id: uuid.UUID) -> None:
        await self._delete(job_id, propagation="Foreground")
        self._cancelled.add(job_id)  # only once the deletion is accepted: else it is asked again

    async def _delete(self, job_id: uuid.UUID, propagation: str) -> None:
        found = await self._find(job_id)
        if found is None:
            return
        namespace, _ = found
        name = training_job_name(job_id)
        await self.kube.ask_unless_absent(
            f"delete Job {name}",
            lambda: self.batch.delete_namespaced_job(name, namespace, propagation_policy=propagation),
        )

    async def training_logs(self, job_id: uuid.UUID, tail_bytes: int = 256 * 1024) -> str:
        found = await self._find(job_id)
        if found is None:
            return ""
        namespace, _ = found
        pods = await self._pods(namespace, job_id)
        if not pods:
            return ""
        pod = pods[-1].metadata.name
        text: str | None = await self.kube.ask_unless_absent(
            f"read the logs of {pod}",
            lambda: self.core.read_namespaced_pod_log(
                pod, namespace, container="trainer", limit_bytes=tail_bytes
            ),
            absent=frozenset({400, 404}),  # not started yet, or gone
        )
        return text or ""

    async def cleanup_training(self, job_id: uuid.UUID) -> None:
        if job_id not in self._cancelled:  # a cancelled Job's deletion is under way already
            await self._delete(job_id, propagation="Background")
        self._where.pop(job_id, None)
        self._cancelled.discard(job_id)

    async def close(self) -> None:
        await self.jobs.stop()
        await self.pods.stop()
        await self.kube.close()


def terminated_reason(terminated: Any) -> str:
    """A failed container's reason: the program's own words (its termination message) when it wrote
    them, as the local executor reports; what Kubernetes saw (OOMKilled, ...) otherwise."""
    reason = terminated.reason or "Error"
    message = (terminated.message or "").strip()
    if reason == "OOMKilled":
        return f"OOMKilled (exit code {terminated.exit_code}): it used more than its memory limit"
    if message:  # the program's words, or (FallbackToLogsOnError) the end of its log
        return f"{message} (exit code {terminated.exit_code})"
    return f"{reason} (exit code {terminated.exit_code})"
