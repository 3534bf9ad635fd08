"""Deployment bodies: create, update (scale, switch version, go public), read; API keys."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from podml.deployments.models import DeploymentStatus
from podml.jobs.schemas import ResourceAmounts, resolve_resources
from podml.resources import Resources
from podml.schemas import Page

# A replica's defaults: what a small scikit-learn model needs, as a Kubernetes pod would request.
REPLICA_DEFAULTS = Resources(cpu_request="100m", memory_request="256Mi", cpu_limit="1", memory_limit="1Gi")


class ReplicaResourcesIn(BaseModel):
    """Per replica: the shorthand `{cpu, memory}` (limits) or Kubernetes-style `requests` / `limits`."""

    model_config = ConfigDict(extra="forbid")

    cpu: str | None = Field(default=None, description="CPU limit, e.g. 1 or 500m")
    memory: str | None = Field(default=None, description="Memory limit, e.g. 1Gi or 512Mi")
    requests: ResourceAmounts | None = None
    limits: ResourceAmounts | None = None

    def resolve(self) -> Resources:
        return resolve_resources(self.cpu, self.memory, self.requests, self.limits, REPLICA_DEFAULTS)


TargetConcurrency = Annotated[
    float | None,
    Field(
        gt=0,
        le=10_000,
        description=(
            "Autoscaling target: requests in flight per replica (KServe's scaleTarget); "
            "omitted or null: the platform's PODML_AUTOSCALE_TARGET_CONCURRENCY"
        ),
    ),
]


def _name(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        raise ValueError("name must not be blank")
    return value


class DeploymentCreate(BaseModel):
    """`replicas` alone pins the count; `min_replicas`/`max_replicas` let it autoscale (starting at
    `replicas`, or `min_replicas` when omitted)."""

    model_config = ConfigDict(extra="forbid")

    version_id: uuid.UUID
    name: str | None = Field(default=None, max_length=200, description="Defaults to '<model> <version>'")
    replicas: int | None = Field(default=None, ge=1, le=1000)
    min_replicas: int | None = Field(default=None, ge=1, le=1000)
    max_replicas: int | None = Field(default=None, ge=1, le=1000)
    resources: ReplicaResourcesIn | None = None
    public: bool = Field(default=False, description="Anyone may call the prediction URL, no key needed")
    target_concurrency: TargetConcurrency = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str | None) -> str | None:
        return _name(value)

    @model_validator(mode="after")
    def _bounds(self) -> DeploymentCreate:
        low, high, start = replica_bounds(self.replicas, self.min_replicas, self.max_replicas)
        self.replicas, self.min_replicas, self.max_replicas = start, low, high
        return self


def replica_bounds(replicas: int | None, low: int | None, high: int | None) -> tuple[int, int, int]:
    """(min, max, initial) from what was given; ValueError naming the conflict."""
    if low is None and high is None:
        start = replicas or 1
        return start, start, start
    low = low if low is not None else min(replicas or 1, high or 1)
    high = high if high is not None else max(low, replicas or low)
    if low > high:
        raise ValueError(f"min_replicas ({low}) is above max_replicas ({high})")
    start = replicas if replicas is not None else low
    if not low <= start <= high:
        raise ValueError(f"replicas ({start}) must be between min_replicas ({low}) and max_replicas ({high})")
    return low, high, start


class DeploymentUpdate(BaseModel):
    """Every field optional. A new `version_id` or `resources` rolls out new replicas with no failed
    request; replica counts and `public` apply at once."""

    model_config = ConfigDict(extra="forbid")

    version_id: uuid.UUID | None = None
    name: str | None = Field(default=None, max_length=200)
    replicas: int | None = Field(default=None, ge=1, le=1000)
    min_replicas: int | None = Field(default=None, ge=1, le=1000)
    max_replicas: int | None = Field(default=None, ge=1, le=1000)
    resources: ReplicaResourcesIn | None = None
    public: bool | None = None
    target_concurrency: TargetConcurrency = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str | None) -> str | None:
        return _name(value)


class ReplicaRead(BaseModel):
    name: str
    phase: str = Field(description="starting, ready, unhealthy, failed or stopping")
    current: bool = Field(description="Runs the deployment's current revision (false while draining)")
    restarts: int
    reason: str | None
    started_at: datetime | None


class DeploymentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    model_id: uuid.UUID
    version_id: uuid.UUID
    serving_version_id: uuid.UUID | None = Field(description="The version behind traffic right now")
    status: DeploymentStatus
    reason: str | None
    public: bool
    replicas: int
    min_replicas: int
    max_replicas: int
    target_concurrency: float | None = Field(description="The autoscaling target; null: the platform's")
    desired_replicas: int
    ready_replicas: int
    resources: dict[str, Any] = Field(validation_alias="resources_json")
    revision: int
    url: str = ""
    v2_url: str = ""
    replica_states: list[ReplicaRead] = []
    created_at: datetime
    updated_at: datetime
    ready_at: datetime | None

    @classmethod
    def build(cls, deployment: Any, public_url: str) -> DeploymentRead:
        read = cls.model_validate(deployment)
        read.url = f"{public_url}/api/v1/predict/{deployment.id}"
        read.v2_url = f"{public_url}/v2/models/{deployment.id}/infer"
        read.replica_states = [
            ReplicaRead(
                name=r["name"],
                phase=r["phase"],
                current=r["revision"] == deployment.revision,
                restarts=r.get("restarts", 0),
                reason=r.get("reason"),
                started_at=(
                    datetime.fromtimestamp(r["started_at"], UTC) if r.get("started_at") is not None else None
                ),
            )
            for r in deployment.replicas_json or []
        ]
        return read


DeploymentPage = Page[DeploymentRead]


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="default", min_length=1, max_length=100)


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    deployment_id: uuid.UUID
    name: str
    prefix: str = Field(description="The key's public part, to tell keys apart")
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The secret key: shown once, send it as 'Authorization: Bearer <key>'")


ApiKeyPage = Page[ApiKeyRead]
