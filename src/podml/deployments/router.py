"""Deployment routes: create, list, read, scale / switch version, delete; API keys; traffic stats."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from podml.deployments import keys, service
from podml.deployments.models import DeploymentStatus
from podml.deployments.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPage,
    ApiKeyRead,
    DeploymentCreate,
    DeploymentPage,
    DeploymentRead,
    DeploymentUpdate,
)
from podml.deployments.stats import DeploymentStats, read_stats
from podml.deps import CurrentUser, SessionDep, SettingsDep, wake_reconciler
from podml.errors import Invalid
from podml.schemas import Pagination

router = APIRouter(prefix="/api/deployments", tags=["deployments"])


def _forget(request: Request, deployment_id: uuid.UUID) -> None:
    """Changes that the gateway must see at once in this process (others see them within seconds)."""
    gateway = getattr(request.app.state, "gateway", None)
    if gateway is not None:
        gateway.invalidate(deployment_id)


@router.post("", status_code=201, response_model=DeploymentRead)
async def create_deployment(
    body: DeploymentCreate,
    request: Request,
    principal: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
) -> DeploymentRead:
    """Serve a model version; `pending` until its replicas are ready."""
    deployment = await service.create(session, principal, settings, body)
    wake_reconciler(request)
    return DeploymentRead.build(deployment, settings.public_url)


@router.get("", response_model=DeploymentPage)
async def list_deployments(
    principal: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    page: Pagination,
    status: Annotated[DeploymentStatus | None, Query(description="Only deployments in this status")] = None,
    model_id: Annotated[uuid.UUID | None, Query(description="Only deployments of this model")] = None,
) -> DeploymentPage:
    items, total = await service.get_all(
        session, principal, limit=page.limit, offset=page.offset, status=status, model_id=model_id
    )
    return DeploymentPage(items=[DeploymentRead.build(d, settings.public_url) for d in items], total=total)


@router.get("/{deployment_id}", response_model=DeploymentRead)
async def get_deployment(
    deployment_id: uuid.UUID, principal: CurrentUser, session: SessionDep, settings: SettingsDep
) -> DeploymentRead:
    return DeploymentRead.build(await service.get(session, principal, deployment_id), settings.public_url)


@router.patch("/{deployment_id}", response_model=DeploymentRead)
async def update_deployment(
    deployment_id: uuid.UUID,
    body: DeploymentUpdate,
    request: Request,
    principal: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
) -> DeploymentRead:
    """Scale, switch to another version of the model (no request fails), change resources or `public`."""
    deployment = await service.update(session, principal, settings, deployment_id, body)
    _forget(request, deployment_id)
    wake_reconciler(request)
    return DeploymentRead.build(deployment, settings.public_url)


@router.delete("/{deployment_id}", status_code=204)
async def delete_deployment(
    deployment_id: uuid.UUID, request: Request, principal: CurrentUser, session: SessionDep
) -> Response:
    """Stop serving at once; the replicas are stopped in the background."""
    await service.delete(session, principal, deployment_id)
    _forget(request, deployment_id)
    wake_reconciler(request)
    return Response(status_code=204)


@router.get("/{deployment_id}/stats", response_model=DeploymentStats)
async def get_deployment_stats(
    deployment_id: uuid.UUID,
    request: Request,
    principal: CurrentUser,
    session: SessionDep,
    window: Annotated[int, Query(description="Seconds of history, 60 to 604800")] = 3600,
    step: Annotated[int, Query(description="Seconds per point, a multiple of 10")] = 60,
) -> DeploymentStats:
    """Request rate, errors and latency quantiles over time, as the gateway measured them."""
    await service.get(session, principal, deployment_id)
    gateway = getattr(request.app.state, "gateway", None)
    try:
        return await read_stats(
            session,
            deployment_id,
            window=window,
            step=step,
            live=gateway.stats if gateway is not None else None,
        )
    except ValueError as exc:
        raise Invalid(str(exc)) from exc


@router.post("/{deployment_id}/keys", status_code=201, response_model=ApiKeyCreated)
async def create_api_key(
    deployment_id: uuid.UUID, principal: CurrentUser, session: SessionDep, body: ApiKeyCreate | None = None
) -> ApiKeyCreated:
    """A key for calling this deployment's prediction URL; the secret is shown only in this answer."""
    row, secret = await keys.create(session, principal, deployment_id, (body or ApiKeyCreate()).name)
    return ApiKeyCreated.model_validate({**ApiKeyRead.model_validate(row).model_dump(), "key": secret})


@router.get("/{deployment_id}/keys", response_model=ApiKeyPage)
async def list_api_keys(
    deployment_id: uuid.UUID, principal: CurrentUser, session: SessionDep, page: Pagination
) -> ApiKeyPage:
    items, total = await keys.get_all(session, principal, deployment_id, limit=page.limit, offset=page.offset)
    return ApiKeyPage(items=[ApiKeyRead.model_validate(k) for k in items], total=total)


@router.delete("/{deployment_id}/keys/{key_id}", status_code=204)
async def revoke_api_key(
    deployment_id: uuid.UUID, key_id: uuid.UUID, request: Request, principal: CurrentUser, session: SessionDep
) -> Response:
    """Revoke a key: calls with it answer 401 from now on."""
    await keys.revoke(session, principal, deployment_id, key_id)
    gateway = getattr(request.app.state, "gateway", None)
    if gateway is not None:
        gateway.forget_keys()
    return Response(status_code=204)
