"""What the reconciler does with training jobs: admit queued ones within the limits, start them
with signed URLs, follow running ones, and settle finished ones (metrics, model version, logs).

Every function takes the scheduler's view (all owners); ownership rules live in `jobs.service`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from podml.auth.principal import Principal
from podml.config import Settings
from podml.configurations import service as configuration_service
from podml.database import utcnow
from podml.datasets import service as dataset_service
from podml.errors import DomainError
from podml.executors.base import Executor, ExecutorError, Observation, Phase, TrainingJobSpec
from podml.jobs import repository
from podml.jobs.models import TrainingJob
from podml.kubernetes.namespaces import Quota
from podml.quotas import service as quota_service
from podml.registry import service as registry_service
from podml.resources import Resources, parse_quantity
from podml.storage import ObjectNotFoundError, Storage, StorageError
from podml.storage.keys import job_prefix, model_prefix

log = logging.getLogger(__name__)

MODEL_FILE = "model.joblib"
METRICS_FILE = "metrics.json"
URL_MARGIN_SECONDS = 600
LOG_LIMIT_BYTES = 4 * 1024 * 1024  # the end of a job's log that is kept


@dataclass
class Usage:
    """What is running now: jobs, and the CPU and memory limits they hold, in total and per owner."""

    total: int = 0
    jobs: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    cpu: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    memory: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))

    def add(self, owner: str, resources: Resources) -> None:
        self.total += 1
        self.jobs[owner] += 1
        self.cpu[owner] += parse_quantity(resources.cpu_limit)
        self.memory[owner] += parse_quantity(resources.memory_limit)

    def waiting_reason(
        self, owner: str, resources: Resources, settings: Settings, quota: Quota
    ) -> str | None:
        """Why this job cannot start now (None: it can), within the owner's quota (`podml.quotas`)."""
        if self.jobs[owner] >= settings.max_concurrent_jobs_per_user:
            return (
                f"waiting: {self.jobs[owner]} of your jobs are running "
                f"(limit {settings.max_concurrent_jobs_per_user})"
            )
        cpu, memory = parse_quantity(resources.cpu_limit), parse_quantity(resources.memory_limit)
        if cpu > parse_quantity(quota.cpu):
            return (
                f"waiting: this job's CPU limit {resources.cpu_limit} is above your CPU quota of {quota.cpu}"
            )
        if memory > parse_quantity(quota.memory):
            return (
                f"waiting: this job's memory limit {resources.memory_limit} is above your memory quota "
                f"of {quota.memory}"
            )
        if self.cpu[owner] + cpu > parse_quantity(quota.cpu):
            return f"waiting: your running jobs use your CPU quota of {quota.cpu}"
        if self.memory[owner] + memory > parse_quantity(quota.memory):
            return f"waiting: your running jobs use your memory quota of {quota.memory}"
        if self.total >= settings.max_concurrent_jobs:
            return f"waiting for a free slot ({self.total} jobs running on the platform)"
        return None


def _resources(job: TrainingJob) -> Resources:
    return Resources.from_json(job.resources_json)


def _model_prefix(job: TrainingJob) -> str:
    assert job.model_id is not None
    assert job.model_version_id is not None
    return model_prefix(job.owner_sub, str(job.model_id), str(job.model_version_id))


async def admit(
    session: AsyncSession, storage: Storage, executor: Executor, settings: Settings
) -> list[uuid.UUID]:
    """Start queued jobs, oldest first, while the platform's and each owner's limits allow."""
    usage = Usage()
    for job in await repository.list_by_status(session, "running"):
        usage.add(job.owner_sub, _resources(job))
    started: list[uuid.UUID] = []
    queued = await repository.list_by_status(session, "queued")
    quotas = await quota_service.effective_many(session, settings, {job.owner_sub for job in queued})
    for job in queued:
        resources = _resources(job)
        reason = usage.waiting_reason(job.owner_sub, resources, settings, quotas[job.owner_sub])
        if reason is not None:
            if job.status_message != reason:
                job.status_message = reason
                await session.commit()
            continue
        try:
            if await start(session, storage, executor, settings, job):
                usage.add(job.owner_sub, resources)
                started.append(job.id)
        except Exception as exc:
            log.exception("job %s could not start", job.id)
            await session.rollback()
            await _fail(session, storage, job, f"internal error while starting the job: {exc}")
    return started


async def _build_spec(
    session: AsyncSession, storage: Storage, settings: Settings, job: TrainingJob
) -> TrainingJobSpec:
    owner = Principal(sub=job.owner_sub)
    configuration = await configuration_service.get(session, owner, job.configuration_id)
    dataset = await dataset_service.get(session, owner, configuration.dataset_id)
    if job.model_version_id is None:
        # Fixed (and committed) before the job starts, so a retried start writes to the same place.
        model = await registry_service.get_or_create_model(session, job.owner_sub, configuration.name)
        job.model_id, job.model_version_id = model.id, uuid.uuid4()
        job.model_uri = storage.uri(_model_prefix(job) + MODEL_FILE)
        await session.commit()
    resources = _resources(job)
    ttl = resources.timeout_seconds + URL_MARGIN_SECONDS
    prefix = _model_prefix(job)
    hyperparams = dict(configuration.hyperparams_json)
    env = {
        "DATASET_URL": storage.signed_url(dataset.storage_key, "GET", ttl),
        "OUTPUT_MODEL_URL": storage.signed_url(prefix + MODEL_FILE, "PUT", ttl),
        "OUTPUT_METRICS_URL": storage.signed_url(prefix + METRICS_FILE, "PUT", ttl),
        "X_COLUMNS": json.dumps(configuration.x_columns_json),
        "Y_COLUMN": configuration.y_column,
        "MODEL_TYPE": configuration.model_type,
        "HYPERPARAMS": json.dumps(hyperparams),
        "TASK": configuration.task,
        "TEST_SIZE": "0.2",
        "RANDOM_SEED": "42",
        "CSV_DELIMITER": dataset.delimiter,
        "CSV_ENCODING": dataset.encoding,
    }
    if "fit_intercept" in hyperparams:
        env["FIT_INTERCEPT"] = "true" if hyperparams["fit_intercept"] else "false"
    return TrainingJobSpec(
        job_id=job.id,
        owner_sub=job.owner_sub,
        configuration_id=job.configuration_id,
        env=env,
        resources=resources,
    )


async def start(
    session: AsyncSession, storage: Storage, executor: Executor, settings: Settings, job: TrainingJob
) -> bool:
    """Start one queued job; a job that cannot start fails with the reason instead."""
    try:
        spec = await _build_spec(session, storage, settings, job)
        await executor.start_training(spec)
    except (DomainError, ExecutorError, StorageError) as exc:
        detail = exc.detail if isinstance(exc, DomainError) else str(exc)
        log.warning("job %s could not start: %s", job.id, detail)
        await _fail(session, storage, job, f"could not start: {detail}")
        return False
    running = {
        "status": "running",
        "started_at": utcnow(),
        "executor": executor.name,
        "status_message": "running",
    }
    if not await repository.move(session, job, "queued", **running):
        # Cancelled by its owner while it was being started: stop what was started.
        await session.commit()
        log.info("job %s was %s while it started; stopping it", job.id, job.status)
        try:
            await executor.cancel_training(job.id)
            await executor.cleanup_training(job.id)
        except ExecutorError as exc:
            log.warning("job %s: could not stop its execution: %s", job.id, exc)
        return False
    await session.commit()
    log.info("job %s started on %s", job.id, executor.name)
    return True


async def follow(session: AsyncSession, storage: Storage, executor: Executor) -> list[uuid.UUID]:
    """Pass cancellations on, and settle every running job that has ended; returns those ids."""
    ended: list[uuid.UUID] = []
    for job in await repository.list_by_status(session, "running"):
        try:
            try:
                if job.cancel_requested_at is not None:
                    await executor.cancel_training(job.id)
                observation = await executor.observe_training(job.id)
            except ExecutorError as exc:  # the executor's API is out of reach: ask again next pass
                if await _asks_again(session, job, exc, "running; its state cannot be read for now"):
                    continue
                observation = Observation(Phase.FAILED, reason=f"its state could not be read: {exc}")
            if observation.phase in (Phase.RUNNING, Phase.PENDING):
                message = _progress(observation)
                if job.status_message != message and job.cancel_requested_at is None:
                    job.status_message = message  # e.g. why Kubernetes has not started its pod
                    await session.commit()
                continue
            try:
                logs = await executor.training_logs(job.id, LOG_LIMIT_BYTES)
            except ExecutorError as exc:  # ended, but its logs are out of reach: ask again next pass
                if await _asks_again(session, job, exc, "ended; its logs cannot be read for now"):
                    continue
                logs = f"(the logs could not be read: {exc})\n"
            await settle(session, storage, executor, job, observation, logs)
        except Exception as exc:
            # One job's trouble must not hold up the others: fail it with the reason instead.
            log.exception("job %s could not be settled", job.id)
            await session.rollback()
            await _fail(session, storage, job, f"internal error while finishing the job: {exc}")
            with contextlib.suppress(Exception):
                await executor.cleanup_training(job.id)
        ended.append(job.id)
    return ended


async def _asks_again(session: AsyncSession, job: TrainingJob, exc: ExecutorError, what: str) -> bool:
    """True when the executor is to be asked again next pass: the job stays running and its status
    message says why it is not settled yet. False once it is past its timeout and its URLs' margin
    (whatever runs can no longer deliver anything): then it is settled with what is known."""
    if job.started_at is not None:
        limit = _resources(job).timeout_seconds + URL_MARGIN_SECONDS
        if (utcnow() - job.started_at).total_seconds() > limit:
            return False
    log.warning("job %s: could not ask the executor (%s); asking again", job.id, exc)
    message = f"{what}: {exc}"[:500]
    if job.status_message != message and job.cancel_requested_at is None:
        job.status_message = message
        await session.commit()
    return True


def _progress(observation: Observation) -> str:
    if observation.phase == Phase.RUNNING:
        return "running"
    return f"pending: {observation.reason}"[:500] if observation.reason else "starting"


async def settle(
    session: AsyncSession,
    storage: Storage,
    executor: Executor,
    job: TrainingJob,
    observation: Observation,
    logs: str,
) -> None:
    job.log_key = await _keep_logs(storage, job, logs)
    if job.cancel_requested_at is not None:
        await _fail(session, storage, job, "cancelled by its owner", status="cancelled")
    elif observation.phase == Phase.SUCCEEDED:
        await _succeed(session, storage, job)
    else:
        reason = observation.reason or "the job failed"
        if observation.phase == Phase.MISSING:
            reason = f"lost: {reason} (the platform restarted while it ran)"
        await _fail(session, storage, job, reason)
    await executor.cleanup_training(job.id)


async def _keep_logs(storage: Storage, job: TrainingJob, text: str) -> str | None:
    key = job_prefix(job.owner_sub, str(job.id)) + "log.txt"
    try:
        await storage.put_bytes(key, text.encode(), content_type="text/plain")
    except StorageError:
        log.exception("job %s: could not keep its logs", job.id)
        return None
    return key


async def _succeed(session: AsyncSession, storage: Storage, job: TrainingJob) -> None:
    prefix = _model_prefix(job)
    try:
        metrics: dict[str, Any] = json.loads(await storage.get_bytes(prefix + METRICS_FILE))
        if not await storage.exists(prefix + MODEL_FILE):
            raise ObjectNotFoundError(prefix + MODEL_FILE)
    except (ObjectNotFoundError, ValueError):
        await _fail(session, storage, job, "the trainer exited successfully but its outputs are missing")
        return
    owner = Principal(sub=job.owner_sub)
    assert job.model_id is not None
    assert job.model_version_id is not None
    model = await registry_service.get(session, owner, job.model_id)
    version = await registry_service.register_version(
        session,
        model=model,
        version_id=job.model_version_id,
        storage_prefix=prefix,
        artifact_uri=storage.uri(prefix.rstrip("/")) + "/",
        metrics=metrics,
        signature=metrics.get("model"),
        source="training",
        source_job_id=job.id,
        # Like an upload, it is built before it is served: loaded in a process of its own and, when
        # the check passes, compiled to ONNX (`podml.registry.builds`).
        status="building",
    )
    job.status = "succeeded"
    job.metrics_json = metrics
    job.finished_at = utcnow()
    job.status_message = f"registered {model.name} {version.version_tag}"
    job.error = None
    await session.commit()
    log.info("job %s succeeded: %s %s", job.id, model.name, version.version_tag)


async def _fail(
    session: AsyncSession, storage: Storage, job: TrainingJob, reason: str, *, status: str = "failed"
) -> None:
    if job.model_id is not None and job.model_version_id is not None:
        try:
            await storage.delete_prefix(_model_prefix(job))
        except StorageError:
            log.exception("job %s: could not remove partial outputs", job.id)
    job.status = status
    job.error = reason
    job.model_version_id = None
    job.model_uri = None
    job.finished_at = utcnow()
    job.status_message = None
    await session.commit()
    log.info("job %s %s: %s", job.id, status, reason)
