"""Quota bodies: Kubernetes quantities checked here, so a bad value is a 422 naming its field.

Bounds (typo guards, not policy; the cluster's own capacity is the real limit):

* cpu: plain cores or millicores ("500m", "2", "1.5"), whole millicores, from 1m up to 1024 cores;
* memory: bytes with a decimal or binary suffix ("512Mi", "4Gi", "8G"), whole bytes, from 64Mi
  (the smallest memory limit a job or replica may have, and what catches "4" meant as 4Gi) up to
  16Ti; millibytes ("4000m") are refused;
* pods: an integer from 1 to 10,000.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from podml.resources import QuantityError, parse_quantity
from podml.schemas import Page

MIN_CPU: Final = "1m"
MAX_CPU: Final = "1024"
MIN_MEMORY: Final = "64Mi"
MAX_MEMORY: Final = "16Ti"
MAX_PODS: Final = 10_000

_CPU = re.compile(r"^[0-9]+(\.[0-9]+)?m?$")
_MEMORY = re.compile(r"^[0-9]+(\.[0-9]+)?(k|M|G|T|Ki|Mi|Gi|Ti)?$")


def check_cpu(value: str) -> str:
    value = value.strip()
    if not _CPU.match(value):
        raise ValueError(f"cpu must be a CPU quantity such as 500m, 2 or 1.5 (got '{value}')")
    cores = parse_quantity(value)
    if cores * 1000 != int(cores * 1000):
        raise ValueError(f"cpu must be a whole number of millicores (got '{value}')")
    if not parse_quantity(MIN_CPU) <= cores <= parse_quantity(MAX_CPU):
        raise ValueError(f"cpu must be between {MIN_CPU} and {MAX_CPU} cores (got '{value}')")
    return value


def check_memory(value: str) -> str:
    value = value.strip()
    if not _MEMORY.match(value):
        raise ValueError(f"memory must be a memory quantity such as 512Mi, 4Gi or 8G (got '{value}')")
    size = parse_quantity(value)
    if size != int(size):
        raise ValueError(f"memory must be a whole number of bytes (got '{value}')")
    if not parse_quantity(MIN_MEMORY) <= size <= parse_quantity(MAX_MEMORY):
        raise ValueError(f"memory must be between {MIN_MEMORY} and {MAX_MEMORY} (got '{value}')")
    return value


def same_quantity(a: str, b: str) -> bool:
    """Whether two quantities are equal ("1.5" and "1500m"; the API server rewrites some forms)."""
    try:
        return parse_quantity(a) == parse_quantity(b)
    except QuantityError:
        return False


class UserQuotaUpdate(BaseModel):
    """The whole override (PUT): a field left out or null follows the platform's default."""

    model_config = ConfigDict(extra="forbid")

    cpu: str | None = Field(
        default=None, max_length=32, examples=["4"], description="CPU cores or millicores"
    )
    memory: str | None = Field(default=None, max_length=32, examples=["8Gi"])
    pods: int | None = Field(default=None, ge=1, le=MAX_PODS, strict=True, examples=[10])
    note: str | None = Field(default=None, max_length=500, description="Why (shown to administrators)")

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, value: str | None) -> str | None:
        return check_cpu(value) if value is not None else None

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        return check_memory(value) if value is not None else None

    @field_validator("note")
    @classmethod
    def _note(cls, value: str | None) -> str | None:
        return (value.strip() or None) if value is not None else None

    @model_validator(mode="after")
    def _something(self) -> UserQuotaUpdate:
        if self.cpu is None and self.memory is None and self.pods is None:
            raise ValueError("give at least one of cpu, memory, pods (DELETE returns to the defaults)")
        return self


class QuotaValues(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    cpu: str
    memory: str
    pods: int


class AccountRead(BaseModel):
    """The account behind a sub (built-in accounts; Cognito users are not stored, so null)."""

    model_config = ConfigDict(from_attributes=True)

    email: str
    display_name: str | None
    role: str
    is_active: bool


class QuotaOverrideRead(BaseModel):
    """What an administrator set (null: that value follows the default), by whom and when."""

    model_config = ConfigDict(from_attributes=True)

    cpu: str | None
    memory: str | None
    pods: int | None
    note: str | None
    set_by: str
    set_by_email: str | None
    created_at: datetime
    updated_at: datetime


class ClusterQuotaRead(BaseModel):
    """The user's ResourceQuota on Kubernetes (null under the local executor).

    status: `applied` (the cluster has this quota), `not_created` (no namespace yet: it is created
    with this quota on the user's first job or deployment), `out_of_sync` (the cluster has other
    limits, e.g. after a failed update: PUT again), `failed` (the cluster could not be written or
    read; `message` says why; a stored override is kept).
    """

    model_config = ConfigDict(from_attributes=True)

    namespace: str
    status: Literal["applied", "not_created", "out_of_sync", "failed"]
    message: str | None = None
    hard: dict[str, str] | None = Field(default=None, description="The ResourceQuota's limits")
    used: dict[str, str] | None = Field(default=None, description="What the namespace uses now")


class UserQuotaRead(BaseModel):
    """A user's effective quota: the override's values where set, the platform's defaults elsewhere."""

    model_config = ConfigDict(from_attributes=True)

    sub: str
    cpu: str
    memory: str
    pods: int
    source: Literal["default", "override"]
    defaults: QuotaValues
    override: QuotaOverrideRead | None
    account: AccountRead | None
    cluster: ClusterQuotaRead | None = Field(
        description="Kubernetes only; null under the local executor and in lists"
    )


UserQuotaPage = Page[UserQuotaRead]
