"""SQL for the user_quotas table, and nothing else."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from podml.database import fetch_page
from podml.quotas.models import UserQuota


async def get(session: AsyncSession, owner_sub: str) -> UserQuota | None:
    return await session.get(UserQuota, owner_sub, populate_existing=True)


async def get_many(session: AsyncSession, owner_subs: Collection[str]) -> Sequence[UserQuota]:
    if not owner_subs:
        return []
    stmt = select(UserQuota).where(UserQuota.owner_sub.in_(owner_subs))
    return (await session.execute(stmt)).scalars().all()


async def get_all(session: AsyncSession, *, limit: int, offset: int) -> tuple[Sequence[UserQuota], int]:
    stmt = select(UserQuota).order_by(UserQuota.updated_at.desc(), UserQuota.owner_sub)
    return await fetch_page(session, stmt, limit=limit, offset=offset)


async def create(session: AsyncSession, quota: UserQuota) -> UserQuota:
    session.add(quota)
    await session.flush()
    return quota


async def delete(session: AsyncSession, quota: UserQuota) -> None:
    await session.delete(quota)
    await session.flush()
