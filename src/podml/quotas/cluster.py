"""Where a quota takes effect beyond the database: a user's ResourceQuota on Kubernetes.

The interface lets the service stay free of Kubernetes; `podml.quotas.kubernetes` implements it,
and under the local executor there is none (`app.state.quota_cluster` is None).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from podml.kubernetes.namespaces import Quota

ClusterStatus = Literal["applied", "not_created", "out_of_sync", "failed"]


@dataclass(frozen=True)
class ClusterState:
    """What the cluster holds for one user (see `ClusterQuotaRead` for the statuses)."""

    namespace: str
    status: ClusterStatus
    message: str | None = None
    hard: dict[str, str] | None = None
    used: dict[str, str] | None = None


class QuotaCluster(Protocol):
    async def apply(self, owner_sub: str, quota: Quota) -> ClusterState:
        """Write `quota` into the user's existing ResourceQuota at once (merge patch)."""
        ...

    async def observe(self, owner_sub: str, quota: Quota) -> ClusterState:
        """Read the user's ResourceQuota: its limits and usage, and whether they match `quota`."""
        ...
