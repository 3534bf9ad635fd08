"""Migrations: they build exactly the ORM's schema on both back ends, and they go down again."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Connection, inspect

from podml.all_models import Base
from podml.database import create_engine
from podml.migrations import current_revision, head_revision, upgrade_to_head
from tests.support.databases import database_url


def _schema(connection: Connection) -> dict[str, object]:
    inspector = inspect(connection)
    return {
        table: {
            "columns": sorted(c["name"] for c in inspector.get_columns(table)),
            "indexes": sorted(i["name"] or "" for i in inspector.get_indexes(table)),
        }
        for table in sorted(inspector.get_table_names())
        if table != "alembic_version"
    }


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_migrations_match_models(backend: str, tmp_path: Path) -> None:
    async with database_url(backend, tmp_path) as url:
        migrated = create_engine(url)
        await upgrade_to_head(migrated)
        await upgrade_to_head(migrated)  # idempotent
        assert await current_revision(migrated) == head_revision()
        async with migrated.connect() as connection:
            from_migrations = await connection.run_sync(_schema)
        await migrated.dispose()

    async with database_url(backend, tmp_path / "orm") as url:
        (tmp_path / "orm").mkdir(exist_ok=True)
        created = create_engine(url)
        async with created.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        async with created.connect() as connection:
            from_models = await connection.run_sync(_schema)
        await created.dispose()

    assert from_migrations == from_models
    assert {"users", "datasets", "configurations", "training_jobs"} <= set(from_migrations)
    jobs = from_migrations["training_jobs"]
    assert isinstance(jobs, dict)
    assert {
        "owner_sub",
        "configuration_id",
        "metrics_json",
        "resources_json",
        "k8s_job_name",
        "model_uri",
        "status",
        "created_at",
        "updated_at",
    } <= set(jobs["columns"])
    assert "ix_training_jobs_owner_sub" in jobs["indexes"]
    assert "ix_training_jobs_configuration_id" in jobs["indexes"]


async def test_downgrade_to_base_and_back(tmp_path: Path) -> None:
    async with database_url("sqlite", tmp_path) as url:
        engine = create_engine(url)
        await upgrade_to_head(engine)
        from alembic import command

        from podml.migrations import alembic_config

        async with engine.begin() as connection:
            await connection.run_sync(lambda c: command.downgrade(alembic_config(c), "base"))
        async with engine.connect() as connection:
            assert (await connection.run_sync(_schema)) == {}
        await upgrade_to_head(engine)
        assert await current_revision(engine) == head_revision()
        await engine.dispose()
