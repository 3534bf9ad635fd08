"""Registry bodies: `ModelCreate`, `ModelRead` (with its latest version), `ModelVersionRead`, pages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from podml.registry.models import FRAMEWORKS, Framework, VersionSource, VersionStatus
from podml.schemas import Page


class ModelCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    framework: str = Field(default="sklearn", json_schema_extra={"enum": list(FRAMEWORKS)})
    description: str | None = Field(default=None, max_length=10_000)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("name must not be blank")
        return value

    @field_validator("framework")
    @classmethod
    def _framework(cls, value: str) -> str:
        if value not in FRAMEWORKS:
            raise ValueError(f"unknown framework '{value}'; known: {', '.join(FRAMEWORKS)}")
        return value

    @field_validator("description")
    @classmethod
    def _description(cls, value: str | None) -> str | None:
        return (value.strip() or None) if value is not None else None


class ModelVersionSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    version_tag: str
    status: VersionStatus
    created_at: datetime


class ModelRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    owner_sub: str
    name: str
    framework: Framework
    description: str | None
    created_at: datetime
    updated_at: datetime
    latest_version: ModelVersionSummary | None = None
    version_count: int = 0

    @classmethod
    def build(cls, model: Any, latest_version: Any | None, version_count: int) -> ModelRead:
        """A model row plus its version summary (`service.VersionOverview`'s two fields)."""
        read = cls.model_validate(model)
        if latest_version is not None:
            read.latest_version = ModelVersionSummary.model_validate(latest_version)
        read.version_count = version_count
        return read


class ModelVersionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    model_id: uuid.UUID
    version_tag: str
    status: VersionStatus
    artifact_uri: str
    metrics: dict[str, Any] | None = Field(validation_alias="metrics_json")
    signature: dict[str, Any] | None = Field(validation_alias="signature_json")
    source: VersionSource
    source_job_id: uuid.UUID | None
    error: str | None
    serving_path: str | None
    created_at: datetime
    updated_at: datetime


ModelPage = Page[ModelRead]
ModelVersionPage = Page[ModelVersionRead]
