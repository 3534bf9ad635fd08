"""The Executor interface: what the reconciler asks of a place that runs training jobs.

Two implementations: `LocalExecutor` (a supervised subprocess per job) and, later,
`KubernetesExecutor` (a batch/v1 Job per job). Both get the same `TrainingJobSpec`: the pod-contract
environment with signed URLs, and the job's resources.
"""

from __future__ import annotations

import abc
import enum
import uuid
from dataclasses import dataclass

from podml.resources import Resources


def training_job_name(job_id: uuid.UUID) -> str:
    """`train-<job_id>`: the Kubernetes Job name, and the local job's name too."""
    return f"train-{job_id}"


TRAINER = "podml.trainer"
BUILDER = "podml.serving.build"


@dataclass(frozen=True)
class TrainingJobSpec:
    """A run-to-completion job: the trainer, or the builder that loads an uploaded model version."""

    job_id: uuid.UUID
    owner_sub: str
    configuration_id: uuid.UUID | None
    env: dict[str, str]
    resources: Resources
    program: str = TRAINER  # the module run as `python -m ...` (the container's entry point)

    @property
    def name(self) -> str:
        return training_job_name(self.job_id)


class Phase(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    MISSING = "missing"


@dataclass(frozen=True)
class Observation:
    phase: Phase
    exit_code: int | None = None
    reason: str | None = None


class ExecutorError(Exception):
    """The executor could not do what was asked (the reason is safe to show to the job's owner)."""


class Executor(abc.ABC):
    name: str

    @abc.abstractmethod
    async def start_training(self, spec: TrainingJobSpec) -> None:
        """Start the job; a job that already exists is left alone (start is idempotent)."""

    @abc.abstractmethod
    async def observe_training(self, job_id: uuid.UUID) -> Observation:
        """Where the job is now; `MISSING` when the executor has never heard of it or lost it."""

    @abc.abstractmethod
    async def cancel_training(self, job_id: uuid.UUID) -> None:
        """Stop the job (its observation then ends `FAILED` with reason "cancelled")."""

    @abc.abstractmethod
    async def training_logs(self, job_id: uuid.UUID, tail_bytes: int = 256 * 1024) -> str:
        """The end of the job's output (stdout and stderr interleaved)."""

    @abc.abstractmethod
    async def cleanup_training(self, job_id: uuid.UUID) -> None:
        """Forget a finished job (its logs have been copied to storage)."""

    async def prepare(self) -> None:  # noqa: B027 - optional hook
        """Get ready before the first job (e.g. warm up); failures here are not fatal."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients and tasks; running jobs keep running."""


# ---- Serving: long-running model-server replicas behind the gateway ------------------------------


def serving_name(deployment_id: uuid.UUID) -> str:
    """`model-<deployment_id>`: the Kubernetes Deployment/Service name, and the local one too."""
    return f"model-{deployment_id}"


@dataclass(frozen=True)
class ServingSpec:
    """What a deployment should be running now; `apply_serving` makes it so (idempotently).

    `env` is the model server's pod contract (MODEL_URL, MODEL_NAME, optional ONNX_URL and
    REQUIREMENTS_URL, ...); signed URLs in it are refreshed by re-applying with the same revision,
    which never restarts anything. A higher `revision` (another version, other resources) is a
    rolling update: new replicas start, traffic moves to them once `replicas` of them are ready,
    then the old ones drain and stop. Replicas autoscale between `min_replicas` and `max_replicas`
    (starting at `replicas`) on in-flight requests; `min_replicas == max_replicas` pins the count.
    """

    deployment_id: uuid.UUID
    owner_sub: str
    revision: int
    version_id: uuid.UUID
    env: dict[str, str]
    resources: Resources
    replicas: int
    min_replicas: int
    max_replicas: int
    target_concurrency: float = 4.0  # in-flight requests per replica the autoscaler aims for
    public: bool = False  # callable without credentials (Kubernetes: an Ingress straight to it)

    @property
    def name(self) -> str:
        return serving_name(self.deployment_id)


class ReplicaPhase(enum.StrEnum):
    STARTING = "starting"  # launched; the model is loading (/ready not yet 200)
    READY = "ready"  # /ready answers 200: it takes traffic
    UNHEALTHY = "unhealthy"  # was ready, now failing liveness or readiness; about to be restarted
    FAILED = "failed"  # cannot start (e.g. the model does not load); waiting out a back-off
    STOPPING = "stopping"  # draining before it exits (scale-down, old revision)


@dataclass(frozen=True)
class ReplicaStatus:
    name: str
    revision: int
    phase: ReplicaPhase
    restarts: int = 0
    reason: str | None = None  # the last failure, in words ("OOMKilled", the loader's error, ...)
    started_at: float | None = None  # epoch seconds
    url: str | None = None  # where the gateway reaches it (None until it listens)
    pid: int | None = None  # the process (local executor only; a pod has none to show)


@dataclass(frozen=True)
class ServingObservation:
    exists: bool
    revision: int | None = None  # the revision that receives traffic
    desired_replicas: int = 0  # the autoscaler's current target
    replicas: tuple[ReplicaStatus, ...] = ()
    # Set when the deployment cannot become ready without a change (e.g. every replica of the
    # revision fails to load the model, with the loader's error); None while things may still work.
    failure: str | None = None

    @property
    def ready_replicas(self) -> int:
        return sum(1 for r in self.replicas if r.phase == ReplicaPhase.READY and r.revision == self.revision)


class ServingExecutor(abc.ABC):
    """The serving half of an executor (Deployment + Service + HPA on Kubernetes)."""

    @abc.abstractmethod
    async def apply_serving(self, spec: ServingSpec) -> None:
        """Create or update the deployment's replicas toward `spec` (see `ServingSpec`)."""

    @abc.abstractmethod
    async def observe_serving(self, deployment_id: uuid.UUID) -> ServingObservation:
        """The replicas as they are now; `exists=False` when nothing runs for this deployment."""

    @abc.abstractmethod
    async def delete_serving(
        self, deployment_id: uuid.UUID, *, owner_sub: str | None = None, revision: int | None = None
    ) -> None:
        """Stop every replica (draining first) and forget the deployment; idempotent. The owner and
        the last revision, when given, say where the deployment's objects are even if part of them
        is gone already (someone deleted the Kubernetes Deployment by hand)."""

    @abc.abstractmethod
    def endpoints(self, deployment_id: uuid.UUID) -> list[str]:
        """Base URLs (`http://host:port`) of the replicas that take traffic now; [] when none.

        Called by the gateway on every request: it must be cheap and must not block. It may be
        called in a process other than the one that applies specs (an API replica beside a worker).
        """

    async def prepare(self) -> None:  # noqa: B027 - optional hook
        """Get ready before the first deployment (e.g. start a warm zygote); failures are not fatal."""

    async def upkeep(self) -> None:  # noqa: B027 - optional hook
        """Background work for the life of every platform process (e.g. learning endpoints)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Stop what this process runs (local replicas); a cluster's deployments keep running."""
