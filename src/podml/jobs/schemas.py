"""Training-job bodies. Resources use Kubernetes quantities, as in the brief's Job manifest."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from podml.resources import Resources
from podml.schemas import Page

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class ResourceAmounts(BaseModel):
    cpu: str | None = Field(default=None, examples=["500m"])
    memory: str | None = Field(default=None, examples=["512Mi"])


class ResourcesIn(BaseModel):
    """Either the shorthand `{cpu, memory}` (limits) or Kubernetes-style `requests` / `limits`."""

    cpu: str | None = Field(default=None, description="CPU limit, e.g. 1 or 500m")
    memory: str | None = Field(default=None, description="Memory limit, e.g. 1Gi or 512Mi")
    requests: ResourceAmounts | None = None
    limits: ResourceAmounts | None = None
    timeout_seconds: int | None = Field(default=None, ge=1, description="Wall-clock limit")

    def resolve(self) -> Resources:
        return resolve_resources(
            self.cpu, self.memory, self.requests, self.limits, Resources(), self.timeout_seconds
        )


def resolve_resources(
    cpu: str | None,
    memory: str | None,
    requests: ResourceAmounts | None,
    limits: ResourceAmounts | None,
    base: Resources,
    timeout_seconds: int | None = None,
) -> Resources:
    """Concrete resources from the shorthand limits or requests/limits; `base` for what is missing (a
    request defaults to the base request, lowered to the limit when a small limit is asked for)."""
    limits = limits or ResourceAmounts()
    requests = requests or ResourceAmounts()
    cpu_limit = cpu or limits.cpu or base.cpu_limit
    memory_limit = memory or limits.memory or base.memory_limit
    return Resources(
        cpu_request=requests.cpu or _min_quantity(base.cpu_request, cpu_limit),
        memory_request=requests.memory or _min_quantity(base.memory_request, memory_limit),
        cpu_limit=cpu_limit,
        memory_limit=memory_limit,
        timeout_seconds=timeout_seconds or base.timeout_seconds,
    )


def _min_quantity(default: str, limit: str) -> str:
    """The default request, lowered to the limit when a small limit is asked for."""
    from podml.resources import QuantityError, parse_quantity

    try:
        return limit if parse_quantity(limit) < parse_quantity(default) else default
    except QuantityError:
        return default


class JobCreate(BaseModel):
    configuration_id: uuid.UUID
    resources: ResourcesIn | None = None


class JobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: JobStatus
    configuration_id: uuid.UUID
    k8s_job_name: str | None
    model_uri: str | None
    model_id: uuid.UUID | None
    model_version_id: uuid.UUID | None
    metrics: dict[str, Any] | None = Field(validation_alias="metrics_json")
    resources: dict[str, Any] | None = Field(validation_alias="resources_json")
    error: str | None
    status_message: str | None
    executor: str | None
    cancel_requested_at: datetime | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or self.updated_at
        return max(0.0, (end - self.started_at).total_seconds())


JobPage = Page[JobRead]


class JobLogs(BaseModel):
    job_id: uuid.UUID
    status: JobStatus
    logs: str
    truncated: bool
