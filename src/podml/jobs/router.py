"""Training-job routes: submit, list, read, logs, cancel."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from podml.deps import CurrentUser, SessionDep, SettingsDep, StorageDep, wake_reconciler
from podml.jobs import service
from podml.jobs.schemas import JobCreate, JobLogs, JobPage, JobRead, JobStatus
from podml.schemas import Pagination

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


@router.post("", status_code=201, response_model=JobRead)
async def submit_job(
    body: JobCreate, request: Request, principal: CurrentUser, session: SessionDep, settings: SettingsDep
) -> JobRead:
    job = await service.create(session, principal, settings, body)
    wake_reconciler(request)
    return JobRead.model_validate(job)


@router.get("", response_model=JobPage)
async def list_jobs(
    principal: CurrentUser,
    session: SessionDep,
    page: Pagination,
    status: Annotated[JobStatus | None, Query()] = None,
    configuration_id: Annotated[uuid.UUID | None, Query()] = None,
) -> JobPage:
    items, total = await service.get_all(
        session,
        principal,
        limit=page.limit,
        offset=page.offset,
        status=status,
        configuration_id=configuration_id,
    )
    return JobPage(items=[JobRead.model_validate(job) for job in items], total=total)


@router.get("/{job_id}", response_model=JobRead)
async def get_job(job_id: uuid.UUID, principal: CurrentUser, session: SessionDep) -> JobRead:
    return JobRead.model_validate(await service.get(session, principal, job_id))


@router.get("/{job_id}/logs", response_model=JobLogs)
async def job_logs(
    job_id: uuid.UUID,
    request: Request,
    principal: CurrentUser,
    session: SessionDep,
    storage: StorageDep,
    tail_bytes: Annotated[int, Query(ge=1024, le=4 * 1024 * 1024)] = service.LOG_TAIL_BYTES,
) -> JobLogs:
    job = await service.get(session, principal, job_id)
    text, truncated = await service.logs(storage, request.app.state.executor, job, tail_bytes)
    return JobLogs(job_id=job.id, status=job.status, logs=text, truncated=truncated)


@router.post("/{job_id}/cancel", status_code=202, response_model=JobRead)
async def cancel_job(
    job_id: uuid.UUID, request: Request, principal: CurrentUser, session: SessionDep
) -> JobRead:
    job = await service.cancel(session, principal, job_id)
    wake_reconciler(request)
    return JobRead.model_validate(job)
