"""SQL for the datasets table, always scoped by owner."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from podml.database import fetch_page
from podml.datasets.models import Dataset


async def get(session: AsyncSession, owner_sub: str, dataset_id: uuid.UUID) -> Dataset | None:
    stmt = select(Dataset).where(Dataset.id == dataset_id, Dataset.owner_sub == owner_sub)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_all(
    session: AsyncSession, owner_sub: str, *, limit: int, offset: int
) -> tuple[Sequence[Dataset], int]:
    where = Dataset.owner_sub == owner_sub
    stmt = select(Dataset).where(where).order_by(Dataset.created_at.desc(), Dataset.id)
    return await fetch_page(session, stmt, limit=limit, offset=offset)


async def create(session: AsyncSession, dataset: Dataset) -> Dataset:
    session.add(dataset)
    await session.flush()
    return dataset


async def delete(session: AsyncSession, dataset: Dataset) -> None:
    await session.delete(dataset)
    await session.flush()
