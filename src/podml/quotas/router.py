"""Administrators' quota routes: list overrides, read a user's effective quota, set it, reset it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from podml.deps import AdminUser, SessionDep, SettingsDep
from podml.quotas import service
from podml.quotas.cluster import QuotaCluster
from podml.quotas.schemas import UserQuotaPage, UserQuotaRead, UserQuotaUpdate
from podml.schemas import Pagination

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


def get_quota_cluster(request: Request) -> QuotaCluster | None:
    """Kubernetes: the users' ResourceQuotas; None under the local executor."""
    cluster: QuotaCluster | None = getattr(request.app.state, "quota_cluster", None)
    return cluster


QuotaClusterDep = Annotated[QuotaCluster | None, Depends(get_quota_cluster)]
Sub = Annotated[str, Path(min_length=1, max_length=255, description="The user's sub (`owner_sub`)")]


@router.get("/quotas", response_model=UserQuotaPage)
async def list_quotas(
    admin: AdminUser, session: SessionDep, settings: SettingsDep, page: Pagination
) -> UserQuotaPage:
    """Every per-user override, most recently set first (users on the defaults are not listed)."""
    views, total = await service.get_all(session, settings, admin, limit=page.limit, offset=page.offset)
    return UserQuotaPage(items=[UserQuotaRead.model_validate(view) for view in views], total=total)


@router.get("/users/{sub}/quota", response_model=UserQuotaRead)
async def get_user_quota(
    sub: Sub, admin: AdminUser, session: SessionDep, settings: SettingsDep, cluster: QuotaClusterDep
) -> UserQuotaRead:
    """The user's effective quota, whether it is the default or an override, and (Kubernetes) usage."""
    return UserQuotaRead.model_validate(await service.get(session, settings, cluster, admin, sub))


@router.put("/users/{sub}/quota", response_model=UserQuotaRead)
async def set_user_quota(
    sub: Sub,
    body: UserQuotaUpdate,
    admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
    cluster: QuotaClusterDep,
) -> UserQuotaRead:
    """Set (replace) the user's override; on Kubernetes their ResourceQuota is updated at once."""
    view = await service.update(session, settings, cluster, admin, sub, body)
    return UserQuotaRead.model_validate(view)


@router.delete("/users/{sub}/quota", response_model=UserQuotaRead)
async def reset_user_quota(
    sub: Sub, admin: AdminUser, session: SessionDep, settings: SettingsDep, cluster: QuotaClusterDep
) -> UserQuotaRead:
    """Remove the user's override (idempotent): back to the defaults, on the cluster too."""
    return UserQuotaRead.model_validate(await service.delete(session, settings, cluster, admin, sub))
