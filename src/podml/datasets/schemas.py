"""Dataset bodies: `DatasetRead` (with the inferred schema), `DatasetUpdate`, `DatasetPreview`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from podml.schemas import Page

DType = Literal["numeric", "categorical", "boolean", "datetime", "text"]


class ColumnRead(BaseModel):
    name: str
    dtype: DType
    missing: int
    stats: dict[str, float] | None = None


class DatasetRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    filename: str | None
    dataset_uri: str
    size_bytes: int
    row_count: int
    delimiter: str
    encoding: str
    columns: list[ColumnRead] = Field(validation_alias="columns_json")
    created_at: datetime
    updated_at: datetime


DatasetPage = Page[DatasetRead]


class DatasetUpdate(BaseModel):
    name: str = Field(min_length=1, max_length=200)

    @field_validator("name")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("name must not be blank")
        return value


class DatasetPreview(BaseModel):
    columns: list[str]
    rows: list[dict[str, Any]]
