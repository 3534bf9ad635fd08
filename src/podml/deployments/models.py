"""The deployment tables: `deployments` (a served model version), its `api_keys`, and
`deployment_stats` (the gateway's per-deployment traffic figures, in 10-second buckets)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from podml.database import Base, TimestampMixin, utcnow

# pending: no replica of the wanted revision is ready yet; ready: all wanted replicas are ready;
# degraded: it serves, with fewer ready replicas than wanted (one crashed, or is being restarted);
# updating: a new version or new resources roll out while the old replicas serve; failed: it cannot
# become ready without a change (the reason says why); deleting: gone for users, replicas stopping.
DeploymentStatus = Literal["pending", "ready", "degraded", "updating", "failed", "deleting"]
DEPLOYMENT_STATUSES: tuple[str, ...] = get_args(DeploymentStatus)


class Deployment(TimestampMixin, Base):
    __tablename__ = "deployments"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    owner_sub: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(200))
    model_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("models.id", ondelete="RESTRICT"), index=True)
    # The version the owner asked for; `serving_version_id` is the one behind traffic right now
    # (they differ during a version switch).
    version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("model_versions.id", ondelete="RESTRICT"))
    serving_version_id: Mapped[uuid.UUID | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    replicas: Mapped[int] = mapped_column(Integer, default=1)
    min_replicas: Mapped[int] = mapped_column(Integer, default=1)
    max_replicas: Mapped[int] = mapped_column(Integer, default=1)
    # In-flight requests per replica the autoscaler aims for; None: the platform's default.
    target_concurrency: Mapped[float | None] = mapped_column(Float)
    resources_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Bumped by every change that needs new replicas (another version, other resources).
    revision: Mapped[int] = mapped_column(Integer, default=1)
    # What the reconciler last observed.
    ready_replicas: Mapped[int] = mapped_column(Integer, default=0)
    desired_replicas: Mapped[int] = mapped_column(Integer, default=0)
    replicas_json: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    ready_at: Mapped[datetime | None] = mapped_column()


class ApiKey(Base):
    """A per-deployment key: `pdk_<prefix>_<secret>`; only the secret's SHA-256 is stored."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    deployment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), index=True
    )
    owner_sub: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()


class DeploymentStat(Base):
    """One gateway process's figures for one deployment over one 10-second bucket.

    Rows are insert-only and keyed by the writing process (`source`), so API replicas never
    contend; readers sum them. `latency_buckets` holds counts per bound of
    `podml.gateway.stats.LATENCY_BOUNDS_MS` (the last one is +Inf).
    """

    __tablename__ = "deployment_stats"
    __table_args__ = (
        UniqueConstraint("deployment_id", "bucket_start", "source", name="uq_deployment_stats_bucket"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), index=True
    )
    bucket_start: Mapped[int] = mapped_column(Integer)  # epoch seconds, a multiple of the bucket width
    source: Mapped[str] = mapped_column(String(64))
    requests: Mapped[int] = mapped_column(Integer, default=0)
    errors_4xx: Mapped[int] = mapped_column(Integer, default=0)
    errors_5xx: Mapped[int] = mapped_column(Integer, default=0)
    latency_sum_ms: Mapped[float] = mapped_column(Float, default=0.0)
    latency_buckets: Mapped[list[int]] = mapped_column(JSON)
