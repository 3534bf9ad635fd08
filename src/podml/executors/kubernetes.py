"""`KubernetesExecutor`, training half: a batch/v1 Job per training (or build) job, in the owner's
namespace `user-<sub>`, created on first use with its quota, limits and network policies
(`podml.kubernetes.namespaces`). The Job itself is `podml.kubernetes.training.training_job`.

* `start_training` is idempotent: a Job that exists already (409) is adopted, as after a restart.
* `observe_training` reads the Job (found again by name in the owner's namespace, or by its
  `podml/job_id` label across namespaces when this process never saw it) and its pod: succeeded,
  failed (the container's exit code and reason, e.g. OOMKilled, or the Job's condition, e.g.
  DeadlineExceeded), running, or pending (with the pod's waiting reason: ImagePullBackOff, ...).
* `cancel_training` deletes the Job with its pods (foreground propagation); the observation is then
  failed with the reason "cancelled".
* API errors: 429, 5xx and timeouts are retried with backoff (`RETRY_DELAYS`); 403 (a quota or
  policy refusal) and 422 (an invalid object) are `ExecutorError`s whose message the job's owner
  sees; 404 on delete means done.

The serving half (Deployment, Service, HPA per deployment) follows the same pattern with
`podml.kubernetes.serving`; it is not written yet.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Final, TypeVar

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from podml.executors.base import (
    Executor,
    ExecutorError,
    Observation,
    Phase,
    TrainingJobSpec,
    training_job_name,
)
from podml.kubernetes.namespaces import Egress, Quota, namespace_name, user_namespace_objects
from podml.kubernetes.training import LABEL_JOB, training_job, user_label

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_DELAYS: Final = (0.2, 0.5, 1.0, 2.0)
RETRYABLE: Final = frozenset({429, 500, 502, 503, 504})


def _message(exc: ApiException) -> str:
    import json

    try:
        body = json.loads(exc.body or "{}")
    except ValueError:
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    return str(message or exc.reason or f"HTTP {exc.status}")


class KubernetesExecutor(Executor):
    name = "kubernetes"

    def __init__(
        self,
        api: client.ApiClient,
        *,
        trainer_image: str,
        pull_policy: str = "IfNotPresent",
        quota: Quota | None = None,
        egress: Egress | None = None,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.batch = client.BatchV1Api(api)
        self.networking = client.NetworkingV1Api(api)
        self.trainer_image = trainer_image
        self.pull_policy = pull_policy
        self.quota = quota or Quota()
        self.egress = egress or Egress()
        self.retry_delays = retry_delays
        self._namespaces: set[str] = set()
        self._where: dict[uuid.UUID, str] = {}  # job id -> namespace
        self._cancelled: set[uuid.UUID] = set()

    # ---- API calls with retries ------------------------------------------------------------------

    async def _call(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        for attempt, delay in enumerate((*self.retry_delays, None)):
            try:
                return await call()
            except ApiException as exc:
                if exc.status not in RETRYABLE or delay is None:
                    raise
                log.warning(
                    "%s: %s (%s); retry %d in %.1f s", what, exc.status, _message(exc), attempt + 1, delay
                )
            except (TimeoutError, OSError) as exc:
                if delay is None:
                    raise ExecutorError(f"{what}: the Kubernetes API did not answer ({exc})") from exc
                log.warning("%s: %r; retry %d in %.1f s", what, exc, attempt + 1, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _create(self, what: str, create: Callable[[], Awaitable[Any]]) -> bool:
        """Create an object; False when it exists already (409). Refusals become ExecutorErrors."""
        try:
            await self._call(what, create)
        except ApiException as exc:
            if exc.status == 409:
                return False
            if exc.status in (403, 422):
                raise ExecutorError(f"Kubernetes refused the {what}: {_message(exc)}") from exc
            raise ExecutorError(f"could not create the {what}: {exc.status} {_message(exc)}") from exc
        return True

    # ---- namespaces ------------------------------------------------------------------------------

    async def ensure_namespace(self, owner_sub: str) -> str:
        """The owner's namespace, created (with its quota, limits and policies) on first use."""
        name = namespace_name(owner_sub)
        if name in self._namespaces:
            return name
        creators: dict[str, Callable[[Any], Awaitable[Any]]] = {
            "Namespace": self.core.create_namespace,
            "ResourceQuota": partial(self.core.create_namespaced_resource_quota, name),
            "LimitRange": partial(self.core.create_namespaced_limit_range, name),
            "NetworkPolicy": partial(self.networking.create_namespaced_network_policy, name),
        }
        for obj in user_namespace_objects(owner_sub, user_label(owner_sub), self.quota, self.egress):
            what = f"{obj['kind']} {obj['metadata']['name']}"
            await self._create(what, partial(creators[obj["kind"]], obj))
        self._namespaces.add(name)
        return name

    # ---- training --------------------------------------------------------------------------------

    async def start_training(self, spec: TrainingJobSpec) -> None:
        namespace = await self.ensure_namespace(spec.owner_sub)
        body: Any = training_job(spec, namespace, self.trainer_image, self.pull_policy)
        created = await self._create(
            f"Job {spec.name}", lambda: self.batch.create_namespaced_job(namespace, body)
        )
        if not created:
            log.info("job %s: its Job exists already; adopting it", spec.job_id)
        self._where[spec.job_id] = namespace

    async def _find(self, job_id: uuid.UUID) -> tuple[str, Any] | None:
        """(namespace, Job) or None when Kubernetes has no such Job."""
        name = training_job_name(job_id)
        namespace = self._where.get(job_id)
        if namespace is not None:
            try:
                job = await self._call(
                    f"read Job {name}", lambda: self.batch.read_namespaced_job(name, namespace)
                )
                return namespace, job
            except ApiException as exc:
                if exc.status != 404:
                    raise ExecutorError(f"could not read Job {name}: {exc.status} {_message(exc)}") from exc
                return None
        listed = await self._call(
            "list Jobs",
            lambda: self.batch.list_job_for_all_namespaces(label_selector=f"{LABEL_JOB}={job_id}"),
        )
        for job in listed.items:  # the label selector is applied here too (not every server does)
            if (job.metadata.labels or {}).get(LABEL_JOB) == str(job_id) and job.metadata.name == name:
                self._where[job_id] = job.metadata.namespace
                return job.metadata.namespace, job
        return None

    async def _pods(self, namespace: str, job_id: uuid.UUID) -> list[Any]:
        listed = await self._call(
            "list pods",
            lambda: self.core.list_namespaced_pod(namespace, label_selector=f"{LABEL_JOB}={job_id}"),
        )
        return [p for p in listed.items if (p.metadata.labels or {}).get(LABEL_JOB) == str(job_id)]

    async def observe_training(self, job_id: uuid.UUID) -> Observation:
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

    async def _failure(self, namespace: str, job_id: uuid.UUID, condition: Any) -> Observation:
        if job_id in self._cancelled:
            return Observation(Phase.FAILED, reason="cancelled")
        for pod in await self._pods(namespace, job_id):
            for container in (pod.status.container_statuses or []) if pod.status else []:
                terminated = container.state.terminated if container.state else None
                if terminated is not None:
                    reason = terminated.reason or "Error"
                    detail = f"{reason} (exit code {terminated.exit_code})"
                    if terminated.message:
                        detail += f": {terminated.message}"
                    return Observation(Phase.FAILED, exit_code=terminated.exit_code, reason=detail)
        if condition is not None and condition.reason == "DeadlineExceeded":
            return Observation(Phase.FAILED, reason="timed out (the job's timeout_seconds)")
        reason = condition.reason if condition is not None else "failed"
        message = getattr(condition, "message", None)
        return Observation(Phase.FAILED, reason=f"{reason}: {message}" if message else reason)

    async def cancel_training(self, job_id: uuid.UUID) -> None:
        self._cancelled.add(job_id)
        await self._delete(job_id, propagation="Foreground")

    async def _delete(self, job_id: uuid.UUID, propagation: str) -> None:
        found = await self._find(job_id)
        if found is None:
            return
        namespace, _ = found
        name = training_job_name(job_id)
        try:
            await self._call(
                f"delete Job {name}",
                lambda: self.batch.delete_namespaced_job(name, namespace, propagation_policy=propagation),
            )
        except ApiException as exc:
            if exc.status != 404:
                raise ExecutorError(f"could not delete Job {name}: {exc.status} {_message(exc)}") from exc

    async def training_logs(self, job_id: uuid.UUID, tail_bytes: int = 256 * 1024) -> str:
        found = await self._find(job_id)
        if found is None:
            return ""
        namespace, _ = found
        pods = await self._pods(namespace, job_id)
        if not pods:
            return ""
        pod = pods[-1].metadata.name
        try:
            text: str = await self._call(
                f"logs of {pod}",
                lambda: self.core.read_namespaced_pod_log(
                    pod, namespace, container="trainer", limit_bytes=tail_bytes
                ),
            )
        except ApiException as exc:
            if exc.status in (400, 404):  # not started yet, or gone
                return ""
            raise ExecutorError(f"could not read the logs of {pod}: {exc.status} {_message(exc)}") from exc
        return text

    async def cleanup_training(self, job_id: uuid.UUID) -> None:
        await self._delete(job_id, propagation="Background")
        self._where.pop(job_id, None)
        self._cancelled.discard(job_id)

    async def close(self) -> None:
        await self.api.close()
