"""SQL for deployments and their API keys; every query a user can reach is scoped by owner."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from podml.database import fetch_page
from podml.deployments.models import ApiKey, Deployment


async def get(session: AsyncSession, owner_sub: str, deployment_id: uuid.UUID) -> Deployment | None:
    stmt = select(Deployment).where(
        Deployment.id == deployment_id,
        Deployment.owner_sub == owner_sub,
        Deployment.status != "deleting",
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_live(session: AsyncSession, deployment_id: uuid.UUID) -> Deployment | None:
    """Unscoped, for the gateway (which then checks who may call it) and the reconciler."""
    stmt = select(Deployment).where(Deployment.id == deployment_id, Deployment.status != "deleting")
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_all(
    session: AsyncSession,
    owner_sub: str,
    *,
    limit: int,
    offset: int,
    status: str | None = None,
    model_id: uuid.UUID | None = None,
) -> tuple[Sequence[Deployment], int]:
    where = [Deployment.owner_sub == owner_sub, Deployment.status != "deleting"]
    if status is not None:
        where.append(Deployment.status == status)
    if model_id is not None:
        where.append(Deployment.model_id == model_id)
    stmt = select(Deployment).where(*where).order_by(Deployment.created_at.desc(), Deployment.id)
    return await fetch_page(session, stmt, limit=limit, offset=offset)


async def replicas_in_use(
    session: AsyncSession, owner_sub: str, *, excluding: uuid.UUID | None = None
) -> int:
    """The owner's replica ceiling across live deployments: the sum of their `max_replicas` (a
    deployment being deleted no longer counts: its replicas are stopping)."""
    total = func.coalesce(func.sum(Deployment.max_replicas), 0)
    stmt = select(total).where(Deployment.owner_sub == owner_sub, Deployment.status != "deleting")
    if excluding is not None:
        stmt = stmt.where(Deployment.id != excluding)
    return int((await session.execute(stmt)).scalar_one())


async def create(session: AsyncSession, deployment: Deployment) -> Deployment:
    session.add(deployment)
    await session.flush()
    return deployment


async def list_all(session: AsyncSession) -> Sequence[Deployment]:
    """Every deployment, the ones being deleted included (the reconciler's view, across owners)."""
    stmt = select(Deployment).order_by(Deployment.created_at, Deployment.id)
    return (await session.execute(stmt)).scalars().all()


async def remove(session: AsyncSession, deployment_id: uuid.UUID) -> None:
    await session.execute(delete(ApiKey).where(ApiKey.deployment_id == deployment_id))
    await session.execute(delete(Deployment).where(Deployment.id == deployment_id))


async def count_using_version(session: AsyncSession, version_id: uuid.UUID) -> int:
    stmt = select(func.count()).where(
        (Deployment.version_id == version_id) | (Deployment.serving_version_id == version_id)
    )
    return int((await session.execute(stmt)).scalar_one())


# ---- API keys ----------------------------------------------------------------------------------


async def add_key(session: AsyncSession, key: ApiKey) -> ApiKey:
    session.add(key)
    await session.flush()
    return key


async def get_keys(
    session: AsyncSession, owner_sub: str, deployment_id: uuid.UUID, *, limit: int, offset: int
) -> tuple[Sequence[ApiKey], int]:
    stmt = (
        select(ApiKey)
        .where(ApiKey.deployment_id == deployment_id, ApiKey.owner_sub == owner_sub)
        .order_by(ApiKey.created_at.desc(), ApiKey.id)
    )
    return await fetch_page(session, stmt, limit=limit, offset=offset)


async def get_key(
    session: AsyncSession, owner_sub: str, deployment_id: uuid.UUID, key_id: uuid.UUID
) -> ApiKey | None:
    stmt = select(ApiKey).where(
        ApiKey.id == key_id, ApiKey.deployment_id == deployment_id, ApiKey.owner_sub == owner_sub
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_key_by_prefix(session: AsyncSession, prefix: str) -> ApiKey | None:
    return (await session.execute(select(ApiKey).where(ApiKey.prefix == prefix))).scalar_one_or_none()


async def touch_key(session: AsyncSession, key_id: uuid.UUID, when: datetime) -> None:
    await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=when))
