"""Registry test helpers: the app's own sessions, and versions registered the way a job would."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from podml.registry import service
from podml.registry.models import Model, ModelVersion

Maker = async_sessionmaker[AsyncSession]


@pytest.fixture
def maker(app: FastAPI) -> Maker:
    sessionmaker: Maker = app.state.sessionmaker
    return sessionmaker


def owner() -> str:
    """A fresh owner sub: every test works in its own namespace of the shared database."""
    return f"registry-test|{uuid.uuid4().hex}"


async def register(session: AsyncSession, model: Model, **overrides: Any) -> ModelVersion:
    """Register the model's next version with plausible defaults (flushes, does not commit)."""
    version_id = overrides.pop("version_id", uuid.uuid4())
    prefix = service.version_prefix(model, version_id)
    return await service.register_version(
        session,
        model=model,
        version_id=version_id,
        storage_prefix=prefix,
        artifact_uri=f"file:///data/{prefix}",
        **overrides,
    )


async def add_versions(maker: Maker, owner_sub: str, model_name: str, count: int) -> list[ModelVersion]:
    """Create (or reuse) the model and commit `count` new versions, one transaction each."""
    versions = []
    for _ in range(count):
        async with maker() as session:
            model = await service.get_or_create_model(session, owner_sub, model_name)
            versions.append(await register(session, model, metrics={"r2": 0.9}))
            await session.commit()
    return versions
