"""SQL for the training_jobs table."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from podml.database import fetch_page, utcnow
from podml.jobs.models import FINAL_STATUSES, TrainingJob


async def get(session: AsyncSession, owner_sub: str, job_id: uuid.UUID) -> TrainingJob | None:
    stmt = select(TrainingJob).where(TrainingJob.id == job_id, TrainingJob.owner_sub == owner_sub)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_all(
    session: AsyncSession,
    owner_sub: str,
    *,
    limit: int,
    offset: int,
    status: str | None = None,
    configuration_id: uuid.UUID | None = None,
) -> tuple[Sequence[TrainingJob], int]:
    where = [TrainingJob.owner_sub == owner_sub]
    if status is not None:
        where.append(TrainingJob.status == status)
    if configuration_id is not None:
        where.append(TrainingJob.configuration_id == configuration_id)
    stmt = select(TrainingJob).where(*where).order_by(TrainingJob.created_at.desc(), TrainingJob.id)
    return await fetch_page(session, stmt, limit=limit, offset=offset)


async def create(session: AsyncSession, job: TrainingJob) -> TrainingJob:
    session.add(job)
    await session.flush()
    return job


async def count_active_for_configuration(session: AsyncSession, configuration_id: uuid.UUID) -> int:
    stmt = select(func.count()).where(
        TrainingJob.configuration_id == configuration_id,
        TrainingJob.status.not_in(FINAL_STATUSES),
    )
    return int((await session.execute(stmt)).scalar_one())


async def list_by_status(session: AsyncSession, status: str) -> Sequence[TrainingJob]:
    """Every job in `status`, oldest first (the scheduler's view, across owners)."""
    stmt = (
        select(TrainingJob)
        .where(TrainingJob.status == status)
        .order_by(TrainingJob.created_at, TrainingJob.id)
    )
    return (await session.execute(stmt)).scalars().all()


async def move(session: AsyncSession, job: TrainingJob, from_status: str, **values: object) -> bool:
    """Set `values` on the job only if it is still in `from_status` (one conditional UPDATE, so a
    concurrent change, e.g. a cancel while the scheduler starts it, is never overwritten); the
    object follows (`updated_at` too). False when the job had moved on; the caller commits."""
    values = {"updated_at": utcnow(), **values}
    stmt = (
        update(TrainingJob)
        .where(TrainingJob.id == job.id, TrainingJob.status == from_status)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    result = cast(CursorResult[Any], await session.execute(stmt))
    if result.rowcount != 1:
        await session.refresh(job)
        return False
    for name, value in values.items():
        set_committed_value(job, name, value)
    return True
