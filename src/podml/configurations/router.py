"""Configuration routes (CRUD) and the model catalog."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from podml import catalog
from podml.configurations import service
from podml.configurations.schemas import (
    Catalog,
    ConfigurationCreate,
    ConfigurationPage,
    ConfigurationRead,
    ConfigurationUpdate,
)
from podml.deps import CurrentUser, SessionDep
from podml.schemas import Pagination

router = APIRouter(prefix="/api/configurations", tags=["configurations"])
catalog_router = APIRouter(tags=["models"])


@router.post("", status_code=201, response_model=ConfigurationRead)
async def create_configuration(
    body: ConfigurationCreate, principal: CurrentUser, session: SessionDep
) -> ConfigurationRead:
    return ConfigurationRead.model_validate(await service.create(session, principal, body))


@router.get("", response_model=ConfigurationPage)
async def list_configurations(
    principal: CurrentUser,
    session: SessionDep,
    page: Pagination,
    dataset_id: Annotated[uuid.UUID | None, Query()] = None,
) -> ConfigurationPage:
    items, total = await service.get_all(
        session, principal, limit=page.limit, offset=page.offset, dataset_id=dataset_id
    )
    return ConfigurationPage(items=[ConfigurationRead.model_validate(c) for c in items], total=total)


@router.get("/{configuration_id}", response_model=ConfigurationRead)
async def get_configuration(
    configuration_id: uuid.UUID, principal: CurrentUser, session: SessionDep
) -> ConfigurationRead:
    return ConfigurationRead.model_validate(await service.get(session, principal, configuration_id))


@router.patch("/{configuration_id}", response_model=ConfigurationRead)
async def update_configuration(
    configuration_id: uuid.UUID,
    body: ConfigurationUpdate,
    principal: CurrentUser,
    session: SessionDep,
) -> ConfigurationRead:
    updated = await service.update(session, principal, configuration_id, body)
    return ConfigurationRead.model_validate(updated)


@router.delete("/{configuration_id}", status_code=204)
async def delete_configuration(
    configuration_id: uuid.UUID, principal: CurrentUser, session: SessionDep
) -> Response:
    await service.delete(session, principal, configuration_id)
    return Response(status_code=204)


@catalog_router.get("/api/models/catalog", response_model=Catalog)
async def model_catalog(_principal: CurrentUser) -> Catalog:
    """The models the trainer can fit, with each hyperparameter's type, default and bounds."""
    return Catalog.model_validate({"items": [spec.as_dict() for spec in catalog.CATALOG.values()]})
