"""Deployment rules: what may be deployed, replica bounds and quotas, version switches, deletion.

The API only records what the owner wants (version, replica bounds, resources, public) and bumps
`revision` when new replicas are needed; the reconciler (`lifecycle`) makes the executor match it
and writes back what it sees. Deleting hides the deployment at once (`deleting`), the reconciler
stops its replicas and removes the row.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from podml.auth.principal import Principal
from podml.config import Settings
from podml.deployments import repository
from podml.deployments.exceptions import DeploymentNotFound, ReplicaQuotaExceeded, VersionNotDeployable
from podml.deployments.models import Deployment
from podml.deployments.schemas import REPLICA_DEFAULTS, DeploymentCreate, DeploymentUpdate, replica_bounds
from podml.errors import Invalid
from podml.registry import repository as registry_repository
from podml.registry.models import Model, ModelVersion
from podml.resources import Resources


async def get(session: AsyncSession, principal: Principal, deployment_id: uuid.UUID) -> Deployment:
    deployment = await repository.get(session, principal.sub, deployment_id)
    if deployment is None:
        raise DeploymentNotFound()
    return deployment


async def get_all(
    session: AsyncSession,
    principal: Principal,
    *,
    limit: int,
    offset: int,
    status: str | None = None,
    model_id: uuid.UUID | None = None,
) -> tuple[Sequence[Deployment], int]:
    return await repository.get_all(
        session, principal.sub, limit=limit, offset=offset, status=status, model_id=model_id
    )


async def _deployable(session: AsyncSession, principal: Principal, version_id: uuid.UUID) -> ModelVersion:
    """The owner's version, if it is (or is becoming) servable; 404 for anyone else's."""
    from podml.registry.exceptions import ModelVersionNotFound

    version = await registry_repository.get_version(session, principal.sub, version_id)
    if version is None:
        raise ModelVersionNotFound()
    if version.status == "failed":
        raise VersionNotDeployable(
            f"version {version.version_tag} failed to build and cannot be deployed: {version.error}"
        )
    return version


def _check_resources(resources: Resources, settings: Settings) -> None:
    problems = resources.problems(
        max_cpu=settings.max_replica_cpu,
        max_memory=settings.max_replica_memory,
        max_timeout=resources.timeout_seconds,
    )
    if problems:
        raise Invalid("; ".join(problems))


async def _check_replicas(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    max_replicas: int,
    excluding: uuid.UUID | None = None,
) -> None:
    if max_replicas > settings.max_replicas_per_deployment:
        raise Invalid(
            f"max_replicas {max_replicas} is above the allowed {settings.max_replicas_per_deployment}"
        )
    in_use = await repository.replicas_in_use(session, principal.sub, excluding=excluding)
    if in_use + max_replicas > settings.max_replicas_per_user:
        raise ReplicaQuotaExceeded(
            f"replica quota exceeded: your other deployments may use up to {in_use} replicas, this one "
            f"asks for up to {max_replicas}, and your quota is {settings.max_replicas_per_user}"
        )


async def create(
    session: AsyncSession, principal: Principal, settings: Settings, data: DeploymentCreate
) -> Deployment:
    version = await _deployable(session, principal, data.version_id)
    model = await session.get(Model, version.model_id)
    assert model is not None
    resources = data.resources.resolve() if data.resources else REPLICA_DEFAULTS
    _check_resources(resources, settings)
    assert data.replicas is not None
    assert data.min_replicas is not None
    assert data.max_replicas is not None
    await _check_replicas(session, principal, settings, data.max_replicas)
    deployment = Deployment(
        owner_sub=principal.sub,
        name=data.name or f"{model.name} {version.version_tag}",
        model_id=model.id,
        version_id=version.id,
        status="pending",
        reason=_waiting_reason(version),
        public=data.public,
        replicas=data.replicas,
        min_replicas=data.min_replicas,
        max_replicas=data.max_replicas,
        target_concurrency=data.target_concurrency,
        desired_replicas=data.replicas,
        resources_json=resources.to_json(),
        revision=1,
        replicas_json=[],
    )
    await repository.create(session, deployment)
    await session.commit()
    return deployment


def _waiting_reason(version: ModelVersion) -> str:
    if version.status == "building":
        return f"waiting for version {version.version_tag} to finish building"
    return "starting replicas"


async def update(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    deployment_id: uuid.UUID,
    data: DeploymentUpdate,
) -> Deployment:
    deployment = await get(session, principal, deployment_id)
    changes = data.model_fields_set
    new_revision = False
    if data.version_id is not None and data.version_id != deployment.version_id:
        version = await _deployable(session, principal, data.version_id)
        if version.model_id != deployment.model_id:
            raise Invalid(
                "version_id must be a version of the deployed model; deploy other models separately"
            )
        deployment.version_id = version.id
        new_revision = True
    if data.resources is not None:
        resources = data.resources.resolve()
        _check_resources(resources, settings)
        if resources.to_json() != deployment.resources_json:
            deployment.resources_json = resources.to_json()
            new_revision = True
    if changes & {"replicas", "min_replicas", "max_replicas"}:
        low, high, start = _new_bounds(deployment, data)
        await _check_replicas(session, principal, settings, high, excluding=deployment.id)
        deployment.min_replicas, deployment.max_replicas, deployment.replicas = low, high, start
    if "target_concurrency" in changes:
        deployment.target_concurrency = data.target_concurrency
    if data.name is not None:
        deployment.name = data.name
    if data.public is not None:
        deployment.public = data.public
    if new_revision:
        deployment.revision += 1
        if deployment.status == "failed":
            deployment.status = "pending"
        deployment.reason = "rolling out the change"
    await session.commit()
    return deployment


def _new_bounds(deployment: Deployment, data: DeploymentUpdate) -> tuple[int, int, int]:
    """Scaling: `replicas` alone pins the count; bounds given keep the others as they were."""
    try:
        if data.min_replicas is None and data.max_replicas is None:
            return replica_bounds(data.replicas, None, None)
        low = data.min_replicas if data.min_replicas is not None else deployment.min_replicas
        high = data.max_replicas if data.max_replicas is not None else deployment.max_replicas
        start = data.replicas if data.replicas is not None else min(max(deployment.replicas, low), high)
        return replica_bounds(start, low, high)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc


async def delete(session: AsyncSession, principal: Principal, deployment_id: uuid.UUID) -> None:
    deployment = await get(session, principal, deployment_id)
    deployment.status = "deleting"
    deployment.reason = "stopping replicas"
    await session.commit()
