"""SQL for the users table, and nothing else."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from podml.auth.models import User


async def get_by_sub(session: AsyncSession, sub: str) -> User | None:
    return (await session.execute(select(User).where(User.sub == sub))).scalar_one_or_none()


async def get_by_subs(session: AsyncSession, subs: Collection[str]) -> Sequence[User]:
    if not subs:
        return []
    return (await session.execute(select(User).where(User.sub.in_(subs)))).scalars().all()


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    stmt = select(User).where(User.email == email.lower())
    return (await session.execute(stmt)).scalar_one_or_none()


async def count(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(User))).scalar_one())


async def create(session: AsyncSession, user: User) -> User:
    session.add(user)
    await session.flush()
    return user
