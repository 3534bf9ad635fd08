"""SQL for the configurations table, always scoped by owner."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from podml.configurations.models import Configuration
from podml.database import fetch_page


async def get(session: AsyncSession, owner_sub: str, configuration_id: uuid.UUID) -> Configuration | None:
    stmt = select(Configuration).where(
        Configuration.id == configuration_id, Configuration.owner_sub == owner_sub
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_all(
    session: AsyncSession,
    owner_sub: str,
    *,
    limit: int,
    offset: int,
    dataset_id: uuid.UUID | None = None,
) -> tuple[Sequence[Configuration], int]:
    where = [Configuration.owner_sub == owner_sub]
    if dataset_id is not None:
        where.append(Configuration.dataset_id == dataset_id)
    stmt = select(Configuration).where(*where).order_by(Configuration.created_at.desc(), Configuration.id)
    return await fetch_page(session, stmt, limit=limit, offset=offset)


async def names_using_dataset(session: AsyncSession, owner_sub: str, dataset_id: uuid.UUID) -> list[str]:
    stmt = (
        select(Configuration.name)
        .where(Configuration.owner_sub == owner_sub, Configuration.dataset_id == dataset_id)
        .order_by(Configuration.name)
    )
    return list((await session.execute(stmt)).scalars().all())


async def create(session: AsyncSession, configuration: Configuration) -> Configuration:
    session.add(configuration)
    await session.flush()
    return configuration


async def delete(session: AsyncSession, configuration: Configuration) -> None:
    await session.delete(configuration)
    await session.flush()
