"""The model registry tables: `models` (a named model per owner) and its numbered `model_versions`."""

from __future__ import annotations

import uuid
from typing import Any, Literal, get_args

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from podml.database import Base, TimestampMixin

Framework = Literal["sklearn"]  # "pytorch" joins when the model server can load it
VersionStatus = Literal["building", "ready", "failed"]
VersionSource = Literal["training", "upload"]

FRAMEWORKS: tuple[str, ...] = get_args(Framework)
VERSION_STATUSES: tuple[str, ...] = get_args(VersionStatus)
VERSION_SOURCES: tuple[str, ...] = get_args(VersionSource)


class Model(TimestampMixin, Base):
    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("owner_sub", "name", name="uq_models_owner_sub_name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    owner_sub: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(200))
    framework: Mapped[str] = mapped_column(String(20), default="sklearn")
    description: Mapped[str | None] = mapped_column(Text)


class ModelVersion(TimestampMixin, Base):
    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("model_id", "version_tag", name="uq_model_versions_model_id_version_tag"),
        UniqueConstraint("model_id", "version_number", name="uq_model_versions_model_id_version_number"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    model_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    # Denormalised from the model so every version query is scoped without a join.
    owner_sub: Mapped[str] = mapped_column(String(255), index=True)
    version_tag: Mapped[str] = mapped_column(String(20))
    version_number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="building")
    storage_prefix: Mapped[str] = mapped_column(String(1024))
    artifact_uri: Mapped[str] = mapped_column(String(2048))
    metrics_json: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    signature_json: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(20), default="training")
    # No foreign key: a job may be deleted while the version it produced lives on.
    source_job_id: Mapped[uuid.UUID | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    serving_path: Mapped[str | None] = mapped_column(String(20))
