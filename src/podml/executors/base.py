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
