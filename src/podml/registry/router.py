"""Model registry routes: models, their versions, and version uploads."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from podml.datasets.upload import UploadError, receive_upload
from podml.deps import CurrentUser, SessionDep, SettingsDep, StorageDep, wake_reconciler
from podml.errors import DomainError
from podml.registry import service, uploads
from podml.registry.schemas import (
    ModelCreate,
    ModelPage,
    ModelRead,
    ModelVersionPage,
    ModelVersionRead,
)
from podml.schemas import Pagination

# Mounted after the catalog route, so GET /api/models/catalog never reaches /{model_id}.
router = APIRouter(prefix="/api/models", tags=["models"])
# A single version lives at its own path: /api/models/versions/{id} would clash with /{model_id}.
version_router = APIRouter(prefix="/api/model-versions", tags=["models"])


@router.get("", response_model=ModelPage)
async def list_models(
    principal: CurrentUser,
    session: SessionDep,
    page: Pagination,
    name: Annotated[str | None, Query(max_length=200, description="Exact model name")] = None,
) -> ModelPage:
    items, total = await service.get_all(session, principal, limit=page.limit, offset=page.offset, name=name)
    overviews = await service.summarize(session, items)
    return ModelPage(
        items=[
            ModelRead.build(m, overviews[m.id].latest_version, overviews[m.id].version_count) for m in items
        ],
        total=total,
    )


@router.post("", status_code=201, response_model=ModelRead)
async def create_model(body: ModelCreate, principal: CurrentUser, session: SessionDep) -> ModelRead:
    return ModelRead.build(await service.create_model(session, principal, body), None, 0)


@router.get("/{model_id}", response_model=ModelRead)
async def get_model(model_id: uuid.UUID, principal: CurrentUser, session: SessionDep) -> ModelRead:
    model = await service.get(session, principal, model_id)
    overview = (await service.summarize(session, [model]))[model.id]
    return ModelRead.build(model, overview.latest_version, overview.version_count)


@router.get("/{model_id}/versions", response_model=ModelVersionPage)
async def list_model_versions(
    model_id: uuid.UUID, principal: CurrentUser, session: SessionDep, page: Pagination
) -> ModelVersionPage:
    items, total = await service.get_versions(
        session, principal, model_id, limit=page.limit, offset=page.offset
    )
    return ModelVersionPage(items=[ModelVersionRead.model_validate(v) for v in items], total=total)


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["model"],
                    "properties": {
                        "model": {"type": "string", "format": "binary", "description": "model.joblib"},
                        "requirements": {
                            "type": "string",
                            "format": "binary",
                            "description": "requirements.txt (optional): packages the model needs",
                        },
                    },
                }
            }
        },
    }
}


@router.post(
    "/{model_id}/versions", status_code=201, response_model=ModelVersionRead, openapi_extra=_UPLOAD_BODY
)
async def upload_model_version(
    model_id: uuid.UUID,
    request: Request,
    principal: CurrentUser,
    session: SessionDep,
    storage: StorageDep,
    settings: SettingsDep,
) -> ModelVersionRead:
    """Upload `model.joblib` (+ `requirements.txt`); the version is `building` until a server loads it."""
    await service.get(session, principal, model_id)  # 404 before reading a large body
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    try:
        received = await receive_upload(
            request,
            file_field="model",
            max_bytes=settings.max_upload_bytes,
            tmp_dir=settings.tmp_dir,
            text_fields={"requirements"},
            max_text_bytes=uploads.MAX_REQUIREMENTS_BYTES,
        )
    except UploadError as exc:
        raise DomainError(exc.detail, status_code=exc.status_code) from exc
    try:
        version = await uploads.upload_version(
            session, storage, principal, model_id, received.path, received.fields.get("requirements")
        )
    finally:
        received.cleanup()
    wake_reconciler(request)
    return ModelVersionRead.model_validate(version)


@version_router.get("/{version_id}", response_model=ModelVersionRead)
async def get_model_version(
    version_id: uuid.UUID, principal: CurrentUser, session: SessionDep
) -> ModelVersionRead:
    return ModelVersionRead.model_validate(await service.get_version(session, principal, version_id))
