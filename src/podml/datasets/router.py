"""Dataset routes: multipart upload (streamed), list, get, rename, preview, delete."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from podml.datasets import service
from podml.datasets.schemas import DatasetPage, DatasetPreview, DatasetRead, DatasetUpdate
from podml.datasets.upload import UploadError, receive_upload
from podml.deps import CurrentUser, SessionDep, SettingsDep, StorageDep
from podml.errors import DomainError
from podml.schemas import Pagination

router = APIRouter(prefix="/api/datasets", tags=["datasets"])

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "A CSV file"},
                        "name": {"type": "string", "description": "Display name (default: file name)"},
                    },
                }
            }
        },
    }
}


@router.post("", status_code=201, response_model=DatasetRead, openapi_extra=_UPLOAD_BODY)
async def upload_dataset(
    request: Request,
    principal: CurrentUser,
    session: SessionDep,
    storage: StorageDep,
    settings: SettingsDep,
) -> DatasetRead:
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    try:
        upload = await receive_upload(request, max_bytes=settings.max_upload_bytes, tmp_dir=settings.tmp_dir)
    except UploadError as exc:
        raise DomainError(exc.detail, status_code=exc.status_code) from exc
    try:
        dataset = await service.create(session, storage, principal, upload)
    finally:
        upload.cleanup()
    return DatasetRead.model_validate(dataset)


@router.get("", response_model=DatasetPage)
async def list_datasets(principal: CurrentUser, session: SessionDep, page: Pagination) -> DatasetPage:
    items, total = await service.get_all(session, principal, limit=page.limit, offset=page.offset)
    return DatasetPage(items=[DatasetRead.model_validate(d) for d in items], total=total)


@router.get("/{dataset_id}", response_model=DatasetRead)
async def get_dataset(dataset_id: uuid.UUID, principal: CurrentUser, session: SessionDep) -> DatasetRead:
    return DatasetRead.model_validate(await service.get(session, principal, dataset_id))


@router.patch("/{dataset_id}", response_model=DatasetRead)
async def rename_dataset(
    dataset_id: uuid.UUID, body: DatasetUpdate, principal: CurrentUser, session: SessionDep
) -> DatasetRead:
    return DatasetRead.model_validate(await service.rename(session, principal, dataset_id, body.name))


@router.get("/{dataset_id}/preview", response_model=DatasetPreview)
async def preview_dataset(
    dataset_id: uuid.UUID,
    principal: CurrentUser,
    session: SessionDep,
    storage: StorageDep,
    rows: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> DatasetPreview:
    dataset = await service.get(session, principal, dataset_id)
    return await service.preview(storage, dataset, rows)


@router.delete("/{dataset_id}", status_code=204)
async def delete_dataset(
    dataset_id: uuid.UUID, principal: CurrentUser, session: SessionDep, storage: StorageDep
) -> Response:
    await service.delete(session, storage, principal, dataset_id)
    return Response(status_code=204)
