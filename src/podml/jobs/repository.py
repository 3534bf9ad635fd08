"""SQL for the training_jobs table."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from podml.jobs.models import FINAL_STATUSES, TrainingJob


async def count_active_for_configuration(session: AsyncSession, configuration_id: uuid.UUID) -> int:
    stmt = select(func.count()).where(
        TrainingJob.configuration_id == configuration_id,
        TrainingJob.status.not_in(FINAL_STATUSES),
    )
    return int((await session.execute(stmt)).scalar_one())
