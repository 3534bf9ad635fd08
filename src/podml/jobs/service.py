"""Training-job rules: submit (queued), read, cancel, logs. The reconciler moves jobs on from there."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from podml.auth.principal import Principal
from podml.config import Settings
from podml.configurations import service as configuration_service
from podml.database import utcnow
from podml.errors import Invalid
from podml.executors.base import Executor, training_job_name
from podml.jobs import repository
from podml.jobs.exceptions import JobAlreadyFinished, JobNotFound
from podml.jobs.models import FINAL_STATUSES, TrainingJob
from podml.jobs.schemas import JobCreate
from podml.resources import Resources
from podml.storage import ObjectNotFoundError, Storage

LOG_TAIL_BYTES = 256 * 1024


def check_resources(resources: Resources, settings: Settings) -> None:
    problems = resources.problems(
        max_cpu=settings.max_job_cpu,
        max_memory=settings.max_job_memory,
        max_timeout=settings.max_job_timeout_seconds,
    )
    if problems:
        raise Invalid("; ".join(problems))


async def create(
    session: AsyncSession, principal: Principal, settings: Settings, data: JobCreate
) -> TrainingJob:
    configuration = await configuration_service.get(session, principal, data.configuration_id)
    resources = data.resources.resolve() if data.resources else Resources()
    check_resources(resources, settings)
    job_id = uuid.uuid4()
    job = TrainingJob(
        id=job_id,
        owner_sub=principal.sub,
        configuration_id=configuration.id,
        status="queued",
        k8s_job_name=training_job_name(job_id),
        resources_json=resources.to_json(),
        status_message="waiting to be scheduled",
    )
    await repository.create(session, job)
    await session.commit()
    return job


async def get(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> TrainingJob:
    job = await repository.get(session, principal.sub, job_id)
    if job is None:
        raise JobNotFound()
    return job


async def get_all(
    session: AsyncSession,
    principal: Principal,
    *,
    limit: int,
    offset: int,
    status: str | None = None,
    configuration_id: uuid.UUID | None = None,
) -> tuple[Sequence[TrainingJob], int]:
    return await repository.get_all(
        session,
        principal.sub,
        limit=limit,
        offset=offset,
        status=status,
        configuration_id=configuration_id,
    )


async def cancel(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> TrainingJob:
    """A queued job is cancelled at once; a running one is asked to stop (the reconciler does it)."""
    job = await get(session, principal, job_id)
    if job.status in FINAL_STATUSES:
        raise JobAlreadyFinished(f"the job has already {job.status}")
    now = utcnow()
    if job.status == "queued":
        cancelled = {
            "status": "cancelled",
            "finished_at": now,
            "status_message": None,
            "error": "cancelled before it started",
            "cancel_requested_at": now,
        }
        # Conditional: if the scheduler started it meanwhile, it is running and is asked to stop.
        if await repository.move(session, job, "queued", **cancelled):
            await session.commit()
            return job
        if job.status in FINAL_STATUSES:
            raise JobAlreadyFinished(f"the job has already {job.status}")
    job.cancel_requested_at = now
    await session.commit()
    return job


async def logs(
    storage: Storage, executor: Executor, job: TrainingJob, tail_bytes: int = LOG_TAIL_BYTES
) -> tuple[str, bool]:
    """The end of the job's output: from the executor while it runs, from storage once it ended."""
    if job.log_key is not None:
        try:
            data = await storage.get_bytes(job.log_key)
        except ObjectNotFoundError:
            data = b""
        truncated = len(data) > tail_bytes
        text = data[-tail_bytes:].decode("utf-8", errors="replace")
        return (text.split("\n", 1)[-1] if truncated else text), truncated
    if job.status == "queued":
        return "", False
    text = await executor.training_logs(job.id, tail_bytes)
    return text, len(text.encode()) >= tail_bytes


async def count_active_for_configuration(session: AsyncSession, configuration_id: uuid.UUID) -> int:
    return await repository.count_active_for_configuration(session, configuration_id)
