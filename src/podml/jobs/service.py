"""Training-job rules (the scheduling half arrives with the trainer)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from podml.jobs import repository


async def count_active_for_configuration(session: AsyncSession, configuration_id: uuid.UUID) -> int:
    return await repository.count_active_for_configuration(session, configuration_id)
