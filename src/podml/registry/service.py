"""Registry rules: named models per owner, numbered versions (v1, v2, ...), safe under concurrency.

`get_or_create_model`, `register_version` and `set_version_status` are the verbs other domains call
(jobs register what they trained, serving reports what it could load): they flush and leave the
commit to the caller, so a version appears together with whatever else the caller records.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from podml.auth.principal import Principal
from podml.errors import Conflict
from podml.registry import repository
from podml.registry.exceptions import ModelNameTaken, ModelNotFound, ModelVersionNotFound, UnknownFramework
from podml.registry.models import FRAMEWORKS, VERSION_SOURCES, VERSION_STATUSES, Model, ModelVersion
from podml.registry.schemas import ModelCreate
from podml.storage.keys import model_prefix, validate_prefix

# How often register_version re-reads the highest number after losing a race for the same tag.
MAX_REGISTER_ATTEMPTS = 20
MAX_NAME = 200


@dataclass(frozen=True)
class VersionOverview:
    """What a model list shows about a model's versions."""

    latest_version: ModelVersion | None = None
    version_count: int = 0


def version_prefix(model: Model, version_id: uuid.UUID) -> str:
    """The platform key prefix of a version's files: `models/{owner}/{model_id}/{version_id}/`."""
    return model_prefix(model.owner_sub, str(model.id), str(version_id))


def _check_choice(field: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{field} must be one of {', '.join(choices)}, not {value!r}")


async def _hold_write_lock(session: AsyncSession) -> None:
    """On SQLite, open a real write transaction before a SAVEPOINT; a no-op on PostgreSQL.

    pysqlite (and so aiosqlite) sends BEGIN only before INSERT/UPDATE/DELETE. A SAVEPOINT opened
    after mere SELECTs is then the outermost transaction, and its RELEASE commits at once: a caller's
    later rollback would not undo it. BEGIN IMMEDIATE opens the transaction and takes SQLite's one
    write lock, which also makes "read the highest number, insert the next" atomic there.
    """
    connection = await session.connection()
    if connection.dialect.name != "sqlite":
        return
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if driver is not None and not driver.in_transaction:
        await connection.exec_driver_sql("BEGIN IMMEDIATE")


async def get_or_create_model(
    session: AsyncSession, owner_sub: str, name: str, framework: str = "sklearn"
) -> Model:
    """The owner's model called `name`, created if missing. Flushes; the caller commits.

    Two sessions creating the same name at once both succeed: the loser's insert fails on the
    (owner_sub, name) constraint inside a SAVEPOINT, which is rolled back, and it reads the winner's row.
    """
    name = name.strip()[:MAX_NAME]
    if not name:
        raise ValueError("a model name must not be blank")
    if framework not in FRAMEWORKS:
        raise UnknownFramework(f"unknown framework '{framework}'; known: {', '.join(FRAMEWORKS)}")
    model = await repository.get_by_name(session, owner_sub, name)
    if model is None:
        await _hold_write_lock(session)
        try:
            async with session.begin_nested():
                model = await repository.create(
                    session, Model(owner_sub=owner_sub, name=name, framework=framework)
                )
        except IntegrityError:
            model = await repository.get_by_name(session, owner_sub, name)
            if model is None:
                raise
    if model.framework != framework:
        raise Conflict(f"model '{name}' is a {model.framework} model, not {framework}")
    return model


async def register_version(
    session: AsyncSession,
    *,
    model: Model,
    version_id: uuid.UUID,
    storage_prefix: str,
    artifact_uri: str,
    status: str = "ready",
    metrics: dict[str, Any] | None = None,
    signature: dict[str, Any] | None = None,
    source: str = "training",
    source_job_id: uuid.UUID | None = None,
    error: str | None = None,
) -> ModelVersion:
    """Record the model's next version (`v{highest + 1}`). Flushes; the caller commits.

    Concurrent registrations of the same model get distinct numbers: an insert that collides on
    (model_id, version_tag) is rolled back to its SAVEPOINT and retried with a fresh number. On
    PostgreSQL the colliding insert waits for the other transaction, so the retry sees its row.
    """
    _check_choice("status", status, VERSION_STATUSES)
    _check_choice("source", source, VERSION_SOURCES)
    validate_prefix(storage_prefix)
    await _hold_write_lock(session)
    for attempt in range(1, MAX_REGISTER_ATTEMPTS + 1):
        number = await repository.next_version_number(session, model.id)
        version = ModelVersion(
            id=version_id,
            model_id=model.id,
            owner_sub=model.owner_sub,
            version_number=number,
            version_tag=f"v{number}",
            status=status,
            storage_prefix=storage_prefix,
            artifact_uri=artifact_uri,
            metrics_json=metrics,
            signature_json=signature,
            source=source,
            source_job_id=source_job_id,
            error=error,
        )
        try:
            async with session.begin_nested():
                session.add(version)
        except IntegrityError:
            # The same id twice is the caller's bug, not a race: retrying cannot help.
            if attempt == MAX_REGISTER_ATTEMPTS or await repository.get_version_by_id(session, version_id):
                raise
            continue
        return version
    raise AssertionError("unreachable")


async def set_version_status(
    session: AsyncSession,
    version_id: uuid.UUID,
    status: str,
    *,
    error: str | None = None,
    serving_path: str | None = None,
) -> ModelVersion:
    """Move a version to `status`; `error` replaces the previous one (so `ready` clears it) and
    `serving_path` is kept unless given. Unscoped, for the platform's own loops. Flushes only."""
    _check_choice("status", status, VERSION_STATUSES)
    version = await repository.get_version_by_id(session, version_id)
    if version is None:
        raise ModelVersionNotFound()
    version.status = status
    version.error = error
    if serving_path is not None:
        version.serving_path = serving_path
    await session.flush()
    return version


async def create_model(session: AsyncSession, principal: Principal, data: ModelCreate) -> Model:
    taken = ModelNameTaken(f"you already have a model named '{data.name}'")
    if await repository.get_by_name(session, principal.sub, data.name) is not None:
        raise taken
    model = Model(
        owner_sub=principal.sub, name=data.name, framework=data.framework, description=data.description
    )
    try:
        await repository.create(session, model)
        await session.commit()
    except IntegrityError as exc:  # the same name created by a concurrent request
        await session.rollback()
        raise taken from exc
    return model


async def get(session: AsyncSession, principal: Principal, model_id: uuid.UUID) -> Model:
    model = await repository.get(session, principal.sub, model_id)
    if model is None:
        raise ModelNotFound()
    return model


async def get_by_name(session: AsyncSession, principal: Principal, name: str) -> Model | None:
    return await repository.get_by_name(session, principal.sub, name)


async def get_all(
    session: AsyncSession, principal: Principal, *, limit: int, offset: int, name: str | None = None
) -> tuple[Sequence[Model], int]:
    return await repository.get_all(session, principal.sub, limit=limit, offset=offset, name=name)


async def summarize(session: AsyncSession, models: Sequence[Model]) -> dict[uuid.UUID, VersionOverview]:
    """Each model's latest version and version count, for lists (one query for the whole page)."""
    found = await repository.latest_versions(session, [model.id for model in models])
    return {
        model.id: VersionOverview(*found[model.id]) if model.id in found else VersionOverview()
        for model in models
    }


async def get_version(session: AsyncSession, principal: Principal, version_id: uuid.UUID) -> ModelVersion:
    version = await repository.get_version(session, principal.sub, version_id)
    if version is None:
        raise ModelVersionNotFound()
    return version


async def get_versions(
    session: AsyncSession, principal: Principal, model_id: uuid.UUID, *, limit: int, offset: int
) -> tuple[Sequence[ModelVersion], int]:
    """The model's versions, newest (highest number) first; 404 if the model is not the caller's."""
    model = await get(session, principal, model_id)
    return await repository.get_versions(session, principal.sub, model.id, limit=limit, offset=offset)
