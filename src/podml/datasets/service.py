"""Dataset rules: inspect an upload, store it under a platform key, list, preview and delete."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from pathlib import PurePath

from sqlalchemy.ext.asyncio import AsyncSession

from podml.auth.principal import Principal
from podml.configurations import service as configuration_service
from podml.datasets import repository
from podml.datasets.exceptions import DatasetInUse, DatasetNotFound
from podml.datasets.inspect import CsvError, CsvSchema, inspect_csv
from podml.datasets.models import Dataset
from podml.datasets.preview import preview_rows, read_head
from podml.datasets.schemas import DatasetPreview
from podml.datasets.upload import ReceivedUpload
from podml.errors import Invalid
from podml.storage import Storage
from podml.storage.keys import dataset_key

log = logging.getLogger(__name__)

MAX_NAME = 200


def _display_name(upload: ReceivedUpload) -> str:
    name = (upload.fields.get("name") or "").strip()
    if not name and upload.filename:
        name = PurePath(upload.filename.replace("\\", "/")).stem.strip()
    return (name or "dataset")[:MAX_NAME]


def _safe_filename(filename: str | None) -> str | None:
    if not filename:
        return None
    return PurePath(filename.replace("\\", "/")).name[:255] or None


async def create(
    session: AsyncSession, storage: Storage, principal: Principal, upload: ReceivedUpload
) -> Dataset:
    """Inspect the received file, store it, then record it; a failure at any step leaves nothing."""
    try:
        schema: CsvSchema = await asyncio.to_thread(inspect_csv, upload.path)
    except CsvError as exc:
        raise Invalid(exc.reason) from exc
    dataset_id = uuid.uuid4()
    key = dataset_key(principal.sub, str(dataset_id))
    size = await storage.put_file(key, upload.path, content_type="text/csv")
    dataset = Dataset(
        id=dataset_id,
        owner_sub=principal.sub,
        name=_display_name(upload),
        filename=_safe_filename(upload.filename),
        storage_key=key,
        dataset_uri=storage.uri(key),
        size_bytes=size,
        row_count=schema.row_count,
        delimiter=schema.delimiter,
        encoding=schema.encoding,
        columns_json=[
            {"name": c.name, "dtype": c.dtype, "missing": c.missing, "stats": c.stats} for c in schema.columns
        ],
    )
    try:
        await repository.create(session, dataset)
        await session.commit()
    except BaseException:
        await session.rollback()
        await storage.delete(key)
        raise
    log.info("dataset %s stored: %d rows, %d bytes", dataset_id, schema.row_count, size)
    return dataset


async def get(session: AsyncSession, principal: Principal, dataset_id: uuid.UUID) -> Dataset:
    dataset = await repository.get(session, principal.sub, dataset_id)
    if dataset is None:
        raise DatasetNotFound()
    return dataset


async def get_all(
    session: AsyncSession, principal: Principal, *, limit: int, offset: int
) -> tuple[Sequence[Dataset], int]:
    return await repository.get_all(session, principal.sub, limit=limit, offset=offset)


async def rename(session: AsyncSession, principal: Principal, dataset_id: uuid.UUID, name: str) -> Dataset:
    dataset = await get(session, principal, dataset_id)
    dataset.name = name
    await session.commit()
    return dataset


async def preview(storage: Storage, dataset: Dataset, rows: int) -> DatasetPreview:
    head = await read_head(storage.get_stream(dataset.storage_key), max_rows=rows)
    records = preview_rows(head, delimiter=dataset.delimiter, encoding=dataset.encoding, rows=rows)
    return DatasetPreview(columns=[c["name"] for c in dataset.columns_json], rows=records)


async def delete(
    session: AsyncSession, storage: Storage, principal: Principal, dataset_id: uuid.UUID
) -> None:
    dataset = await get(session, principal, dataset_id)
    users = await configuration_service.names_using_dataset(session, principal, dataset_id)
    if users:
        shown = ", ".join(f"'{name}'" for name in users[:5])
        more = f" and {len(users) - 5} more" if len(users) > 5 else ""
        raise DatasetInUse(f"dataset is used by configurations {shown}{more}; delete them first")
    key = dataset.storage_key
    await repository.delete(session, dataset)
    await session.commit()
    # The row goes first: a failed object delete leaves an orphan object, never a row without data.
    try:
        await storage.delete(key)
    except Exception:
        log.exception("dataset %s: row deleted but its object %s was not", dataset_id, key)
