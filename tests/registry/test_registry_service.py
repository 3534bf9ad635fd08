"""Registry verbs other domains call: idempotent models, ordered and race-free version numbers,
flush-without-commit, status changes, and cascade deletes at the database level (both back ends)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import ColumnElement, delete, func, select

from podml.errors import Conflict
from podml.registry import service
from podml.registry.exceptions import ModelVersionNotFound, UnknownFramework
from podml.registry.models import Model, ModelVersion
from tests.registry.conftest import Maker, owner, register

CONCURRENT = 8


async def _count(maker: Maker, entity: type[Model | ModelVersion], *where: ColumnElement[bool]) -> int:
    async with maker() as session:
        stmt = select(func.count()).select_from(entity).where(*where)
        return int((await session.execute(stmt)).scalar_one())


async def test_get_or_create_model_is_idempotent(maker: Maker) -> None:
    sub = owner()
    async with maker() as session:
        first = await service.get_or_create_model(session, sub, "price")
        again = await service.get_or_create_model(session, sub, "price")
        assert again.id == first.id
        await session.commit()
    async with maker() as session:
        later = await service.get_or_create_model(session, sub, " price ")
        other = await service.get_or_create_model(session, owner(), "price")
        await session.commit()
    assert later.id == first.id
    assert other.id != first.id
    assert later.framework == "sklearn"
    assert await _count(maker, Model, Model.owner_sub == sub) == 1


async def test_get_or_create_model_checks_framework(maker: Maker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "FRAMEWORKS", ("sklearn", "pytorch"))
    sub = owner()
    async with maker() as session:
        with pytest.raises(UnknownFramework):
            await service.get_or_create_model(session, sub, "m", framework="tensorflow")
        await service.get_or_create_model(session, sub, "m")
        with pytest.raises(Conflict):
            await service.get_or_create_model(session, sub, "m", framework="pytorch")
        with pytest.raises(ValueError, match="blank"):
            await service.get_or_create_model(session, sub, "  ")


async def test_concurrent_get_or_create_makes_one_model(maker: Maker) -> None:
    sub = owner()

    async def create() -> uuid.UUID:
        async with maker() as session:
            model = await service.get_or_create_model(session, sub, "shared")
            await session.commit()
            return model.id

    ids = await asyncio.gather(*(create() for _ in range(CONCURRENT)))
    assert len(set(ids)) == 1
    assert await _count(maker, Model, Model.owner_sub == sub) == 1


async def test_register_version_numbers_in_order(maker: Maker) -> None:
    sub = owner()
    job_id = uuid.uuid4()
    async with maker() as session:
        model = await service.get_or_create_model(session, sub, "price")
        tags = [(await register(session, model)).version_tag for _ in range(3)]
        await session.commit()
    assert tags == ["v1", "v2", "v3"]
    async with maker() as session:
        model = await service.get_or_create_model(session, sub, "price")
        fourth = await register(
            session,
            model,
            status="building",
            source="upload",
            source_job_id=job_id,
            metrics={"accuracy": 1.0},
            signature={"features": [{"name": "x", "dtype": "numeric"}], "target": "y"},
        )
        await session.commit()
    assert (fourth.version_tag, fourth.version_number) == ("v4", 4)
    assert fourth.owner_sub == sub
    assert fourth.storage_prefix.startswith("models/")
    assert fourth.storage_prefix.endswith(f"/{fourth.id}/")
    async with maker() as session:
        stored = await session.get(ModelVersion, fourth.id)
        assert stored is not None
        assert (stored.status, stored.source, stored.source_job_id) == ("building", "upload", job_id)
        assert stored.signature_json == {"features": [{"name": "x", "dtype": "numeric"}], "target": "y"}
        assert stored.metrics_json == {"accuracy": 1.0}


async def test_concurrent_registrations_never_share_a_tag(maker: Maker) -> None:
    sub = owner()
    async with maker() as session:
        model_id = (await service.get_or_create_model(session, sub, "busy")).id
        await session.commit()

    async def register_one() -> str:
        async with maker() as session:
            model = await session.get(Model, model_id)
            assert model is not None
            version = await register(session, model)
            await asyncio.sleep(0.01)  # hold the transaction open while the others try
            await session.commit()
            return version.version_tag

    tags = await asyncio.gather(*(register_one() for _ in range(CONCURRENT)))
    assert sorted(tags, key=lambda tag: int(tag[1:])) == [f"v{n}" for n in range(1, CONCURRENT + 1)]
    assert await _count(maker, ModelVersion, ModelVersion.model_id == model_id) == CONCURRENT


async def test_nothing_is_committed_by_the_registry_verbs(maker: Maker) -> None:
    """They flush only: the caller's rollback undoes the model and the version (on SQLite too)."""
    sub = owner()
    async with maker() as session:
        await session.execute(select(Model.id).limit(1))  # a read first, as a caller would
        model = await service.get_or_create_model(session, sub, "draft")
        await register(session, model)
        await session.rollback()
    assert await _count(maker, Model, Model.owner_sub == sub) == 0
    assert await _count(maker, ModelVersion, ModelVersion.owner_sub == sub) == 0

    async with maker() as session:
        model = await service.get_or_create_model(session, sub, "kept")
        await session.commit()
    async with maker() as session:
        await register(session, model)
        await session.rollback()
    assert await _count(maker, ModelVersion, ModelVersion.owner_sub == sub) == 0


async def test_register_version_refuses_bad_values(maker: Maker) -> None:
    async with maker() as session:
        model = await service.get_or_create_model(session, owner(), "m")
        with pytest.raises(ValueError, match="status"):
            await register(session, model, status="done")
        with pytest.raises(ValueError, match="source"):
            await register(session, model, source="magic")
        with pytest.raises(ValueError, match="prefix"):
            await service.register_version(
                session, model=model, version_id=uuid.uuid4(), storage_prefix="../x", artifact_uri="x"
            )
        await session.rollback()


async def test_set_version_status(maker: Maker) -> None:
    async with maker() as session:
        model = await service.get_or_create_model(session, owner(), "served")
        version = await register(session, model, status="building")
        await session.commit()
    async with maker() as session:
        failed = await service.set_version_status(session, version.id, "failed", error="cannot unpickle")
        assert (failed.status, failed.error) == ("failed", "cannot unpickle")
        await session.commit()
    async with maker() as session:
        await service.set_version_status(session, version.id, "ready", serving_path="onnx")
        await session.commit()
    async with maker() as session:
        stored = await session.get(ModelVersion, version.id)
        assert stored is not None
        assert (stored.status, stored.error, stored.serving_path) == ("ready", None, "onnx")
        with pytest.raises(ModelVersionNotFound):
            await service.set_version_status(session, uuid.uuid4(), "ready")
        with pytest.raises(ValueError, match="status"):
            await service.set_version_status(session, version.id, "gone")


async def test_deleting_a_model_deletes_its_versions(maker: Maker) -> None:
    sub = owner()
    async with maker() as session:
        model = await service.get_or_create_model(session, sub, "doomed")
        for _ in range(3):
            await register(session, model)
        keeper = await service.get_or_create_model(session, sub, "keeper")
        await register(session, keeper)
        await session.commit()
    assert await _count(maker, ModelVersion, ModelVersion.owner_sub == sub) == 4
    async with maker() as session:
        await session.execute(delete(Model).where(Model.id == model.id))
        await session.commit()
    assert await _count(maker, ModelVersion, ModelVersion.model_id == model.id) == 0
    assert await _count(maker, ModelVersion, ModelVersion.model_id == keeper.id) == 1
