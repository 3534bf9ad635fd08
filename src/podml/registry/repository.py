"""SQL for the models and model_versions tables; every query a user can reach is scoped by owner."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from podml.database import fetch_page
from podml.registry.models import Model, ModelVersion


async def get(session: AsyncSession, owner_sub: str, model_id: uuid.UUID) -> Model | None:
    stmt = select(Model).where(Model.id == model_id, Model.owner_sub == owner_sub)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_by_name(session: AsyncSession, owner_sub: str, name: str) -> Model | None:
    stmt = select(Model).where(Model.owner_sub == owner_sub, Model.name == name)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_all(
    session: AsyncSession, owner_sub: str, *, limit: int, offset: int, name: str | None = None
) -> tuple[Sequence[Model], int]:
    where = [Model.owner_sub == owner_sub]
    if name is not None:
        where.append(Model.name == name)
    stmt = select(Model).where(*where).order_by(Model.created_at.desc(), Model.id)
    return await fetch_page(session, stmt, limit=limit, offset=offset)


async def create(session: AsyncSession, model: Model) -> Model:
    session.add(model)
    await session.flush()
    return model


async def get_version(session: AsyncSession, owner_sub: str, version_id: uuid.UUID) -> ModelVersion | None:
    stmt = select(ModelVersion).where(ModelVersion.id == version_id, ModelVersion.owner_sub == owner_sub)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_version_by_id(session: AsyncSession, version_id: uuid.UUID) -> ModelVersion | None:
    """Unscoped: for the platform's own loops (reconciler, builder), never for a request."""
    return await session.get(ModelVersion, version_id)


async def get_versions(
    session: AsyncSession, owner_sub: str, model_id: uuid.UUID, *, limit: int, offset: int
) -> tuple[Sequence[ModelVersion], int]:
    where = [ModelVersion.model_id == model_id, ModelVersion.owner_sub == owner_sub]
    stmt = select(ModelVersion).where(*where).order_by(ModelVersion.version_number.desc())
    return await fetch_page(session, stmt, limit=limit, offset=offset)


async def next_version_number(session: AsyncSession, model_id: uuid.UUID) -> int:
    stmt = select(func.max(ModelVersion.version_number)).where(ModelVersion.model_id == model_id)
    highest = (await session.execute(stmt)).scalar_one_or_none()
    return int(highest or 0) + 1


async def latest_versions(
    session: AsyncSession, model_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[ModelVersion, int]]:
    """For each model with versions: its highest-numbered version and how many it has (one query)."""
    if not model_ids:
        return {}
    per_model = (
        select(
            ModelVersion.model_id,
            func.max(ModelVersion.version_number).label("highest"),
            func.count().label("count"),
        )
        .where(ModelVersion.model_id.in_(model_ids))
        .group_by(ModelVersion.model_id)
        .subquery()
    )
    stmt = select(ModelVersion, per_model.c.count).join(
        per_model,
        and_(
            ModelVersion.model_id == per_model.c.model_id,
            ModelVersion.version_number == per_model.c.highest,
        ),
    )
    rows = (await session.execute(stmt)).all()
    return {version.model_id: (version, int(count)) for version, count in rows}


async def list_building(session: AsyncSession) -> Sequence[ModelVersion]:
    """Every version still being built, oldest first (the reconciler's view, across owners)."""
    stmt = (
        select(ModelVersion)
        .where(ModelVersion.status == "building")
        .order_by(ModelVersion.created_at, ModelVersion.id)
    )
    return (await session.execute(stmt)).scalars().all()
