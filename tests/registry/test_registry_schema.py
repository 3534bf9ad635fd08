"""The registry migration builds exactly the ORM's tables, constraints included, on both back ends.

`tests/test_migrations.py` compares columns and indexes of the whole schema; this also compares
column types and nullability, unique constraints and foreign keys (with ON DELETE) of our tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, inspect

from podml.all_models import Base
from podml.database import create_engine
from podml.migrations import upgrade_to_head
from tests.support.databases import database_url

TABLES = ("models", "model_versions")


def _tables(connection: Connection) -> dict[str, Any]:
    inspector = inspect(connection)
    return {
        table: {
            "columns": sorted(
                (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
            ),
            "indexes": sorted(
                (i["name"] or "", tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
            ),
            "unique": sorted(
                (u["name"] or "", tuple(u["column_names"])) for u in inspector.get_unique_constraints(table)
            ),
            "foreign_keys": sorted(
                (
                    fk["name"] or "",
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    (fk.get("options") or {}).get("ondelete"),
                )
                for fk in inspector.get_foreign_keys(table)
            ),
        }
        for table in TABLES
    }


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_registry_migration_matches_models(backend: str, tmp_path: Path) -> None:
    (tmp_path / "migrated").mkdir()
    async with database_url(backend, tmp_path / "migrated") as url:
        engine = create_engine(url)
        await upgrade_to_head(engine)
        async with engine.connect() as connection:
            migrated = await connection.run_sync(_tables)
        await engine.dispose()

    (tmp_path / "orm").mkdir()
    async with database_url(backend, tmp_path / "orm") as url:
        engine = create_engine(url)
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        async with engine.connect() as connection:
            created = await connection.run_sync(_tables)
        await engine.dispose()

    assert migrated == created
    assert ("uq_models_owner_sub_name", ("owner_sub", "name")) in migrated["models"]["unique"]
    assert ("uq_model_versions_model_id_version_tag", ("model_id", "version_tag")) in (
        migrated["model_versions"]["unique"]
    )
    assert migrated["model_versions"]["foreign_keys"] == [
        ("fk_model_versions_model_id_models", ("model_id",), "models", "CASCADE")
    ]
