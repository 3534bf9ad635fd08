"""The training_jobs table, with every field of the PodML brief plus the scheduler's own."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from podml.database import Base, TimestampMixin

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


class TrainingJob(TimestampMixin, Base):
    __tablename__ = "training_jobs"
    __table_args__ = (Index("ix_training_jobs_status_created_at", "status", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    owner_sub: Mapped[str] = mapped_column(String(255), index=True)
    configuration_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("configurations.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    k8s_job_name: Mapped[str | None] = mapped_column(String(63))
    model_uri: Mapped[str | None] = mapped_column(String(2048))
    model_version_id: Mapped[uuid.UUID | None] = mapped_column()
    metrics_json: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    resources_json: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    # Scheduler state: the model the version will join, which executor runs it, why it waits,
    # whether its owner asked to stop it, and where its logs were kept when it ended.
    model_id: Mapped[uuid.UUID | None] = mapped_column()
    executor: Mapped[str | None] = mapped_column(String(20))
    status_message: Mapped[str | None] = mapped_column(String(500))
    cancel_requested_at: Mapped[datetime | None] = mapped_column()
    log_key: Mapped[str | None] = mapped_column(String(1024))
