"""Quota rules: a user's effective quota (an administrator's override over the platform's defaults),
and setting or removing overrides, which also updates the user's ResourceQuota on Kubernetes.

Where a quota takes effect:

* the reconciler admits a user's training jobs while their running jobs' CPU and memory limits fit
  the user's cpu and memory (`podml.jobs.lifecycle`), under either executor;
* on Kubernetes the user's namespace gets a ResourceQuota with all three values (`KubeApi`
  asks `lookup` when it creates the namespace); a change is merge-patched into an existing one at
  once (`QuotaCluster.apply`). If that write fails the override is still stored and the answer says
  so (`cluster.status: failed`); a PUT of the same body writes it again, and each platform process
  re-applies the quota the first time it uses the namespace;
* the local executor has no namespace: `pods` is stored and applied only when the platform runs
  on Kubernetes (local limits on processes are `PODML_MAX_CONCURRENT_JOBS_PER_USER` and
  `PODML_MAX_REPLICAS_PER_USER`).

Which subs are accepted: with built-in accounts (`PODML_AUTH_MODE=local`) only an existing
account's (404 otherwise, so a typo does not create an override nobody has); with Cognito, users
live in the pool, not here, so any sub is accepted and `account` is null (an override can be set
before the user first signs in).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from podml.auth import service as auth_service
from podml.auth.exceptions import AdminRequired
from podml.auth.models import User
from podml.auth.principal import Principal
from podml.config import Settings
from podml.kubernetes.namespaces import Quota
from podml.quotas import repository
from podml.quotas.cluster import ClusterState, QuotaCluster
from podml.quotas.exceptions import AccountNotFound
from podml.quotas.models import UserQuota
from podml.quotas.schemas import UserQuotaUpdate

log = logging.getLogger(__name__)

QuotaLookup = Callable[[str], Awaitable[Quota]]


@dataclass(frozen=True)
class QuotaView:
    """One user's quota as an administrator sees it (the shape of `UserQuotaRead`)."""

    sub: str
    quota: Quota
    defaults: Quota
    override: UserQuota | None
    account: User | None
    cluster: ClusterState | None = None

    @property
    def cpu(self) -> str:
        return self.quota.cpu

    @property
    def memory(self) -> str:
        return self.quota.memory

    @property
    def pods(self) -> int:
        return self.quota.pods

    @property
    def source(self) -> Literal["default", "override"]:
        return "default" if self.override is None else "override"


def defaults(settings: Settings) -> Quota:
    return Quota(cpu=settings.user_cpu_quota, memory=settings.user_memory_quota, pods=settings.user_pod_quota)


def effective(settings: Settings, override: UserQuota | None) -> Quota:
    """The override's values where it sets them, the platform's defaults elsewhere."""
    base = defaults(settings)
    if override is None:
        return base
    return Quota(
        cpu=override.cpu or base.cpu,
        memory=override.memory or base.memory,
        pods=override.pods if override.pods is not None else base.pods,
    )


async def get_effective(session: AsyncSession, settings: Settings, owner_sub: str) -> Quota:
    return effective(settings, await repository.get(session, owner_sub))


async def effective_many(
    session: AsyncSession, settings: Settings, owner_subs: Collection[str]
) -> dict[str, Quota]:
    """Every given user's effective quota (one query; for the reconciler's admission pass)."""
    overrides = {row.owner_sub: row for row in await repository.get_many(session, owner_subs)}
    return {sub: effective(settings, overrides.get(sub)) for sub in owner_subs}


def lookup(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> QuotaLookup:
    """An async `owner_sub -> Quota` for the Kubernetes executor, with a session of its own."""

    async def quota_of(owner_sub: str) -> Quota:
        async with sessionmaker() as session:
            return await get_effective(session, settings, owner_sub)

    return quota_of


def _check_admin(principal: Principal) -> None:
    if not principal.is_admin:  # the routes check too (`AdminUser`); this keeps the rule here
        raise AdminRequired()


async def _account(session: AsyncSession, settings: Settings, sub: str) -> User | None:
    user = await auth_service.get_user(session, sub)
    if user is None and settings.auth_mode == "local":
        raise AccountNotFound(f"no account has the sub '{sub}'")
    return user


async def get(
    session: AsyncSession,
    settings: Settings,
    cluster: QuotaCluster | None,
    admin: Principal,
    sub: str,
) -> QuotaView:
    """A user's effective quota, and on Kubernetes what their namespace holds and uses."""
    _check_admin(admin)
    account = await _account(session, settings, sub)
    override = await repository.get(session, sub)
    quota = effective(settings, override)
    state = await cluster.observe(sub, quota) if cluster is not None else None
    return QuotaView(sub, quota, defaults(settings), override, account, state)


async def get_all(
    session: AsyncSession, settings: Settings, admin: Principal, *, limit: int, offset: int
) -> tuple[Sequence[QuotaView], int]:
    """Every override, most recently set first (users on the defaults are not listed)."""
    _check_admin(admin)
    rows, total = await repository.get_all(session, limit=limit, offset=offset)
    accounts = await auth_service.users_by_sub(session, [row.owner_sub for row in rows])
    base = defaults(settings)
    views = [
        QuotaView(row.owner_sub, effective(settings, row), base, row, accounts.get(row.owner_sub))
        for row in rows
    ]
    return views, total


async def update(
    session: AsyncSession,
    settings: Settings,
    cluster: QuotaCluster | None,
    admin: Principal,
    sub: str,
    data: UserQuotaUpdate,
) -> QuotaView:
    """Store the override (replacing any), then write it into the user's ResourceQuota."""
    _check_admin(admin)
    account = await _account(session, settings, sub)
    override = await _store(session, sub, admin, data)
    quota = effective(settings, override)
    log.info(
        "quota of %s set by %s: cpu=%s memory=%s pods=%s", sub, admin.sub, quota.cpu, quota.memory, quota.pods
    )
    state = await cluster.apply(sub, quota) if cluster is not None else None
    _log_cluster(sub, state)
    return QuotaView(sub, quota, defaults(settings), override, account, state)


async def _store(session: AsyncSession, sub: str, admin: Principal, data: UserQuotaUpdate) -> UserQuota:
    for attempt in (1, 2):
        override = await repository.get(session, sub)
        if override is None:
            override = UserQuota(owner_sub=sub)
            session.add(override)
        override.cpu, override.memory, override.pods = data.cpu, data.memory, data.pods
        override.note = data.note
        override.set_by, override.set_by_email = admin.sub, admin.email
        try:
            await session.flush()
            await session.commit()
        except IntegrityError:
            # Another administrator created it at the same moment: replace theirs (last write wins).
            await session.rollback()
            if attempt == 2:
                raise
            continue
        return override
    raise AssertionError("unreachable")


async def delete(
    session: AsyncSession,
    settings: Settings,
    cluster: QuotaCluster | None,
    admin: Principal,
    sub: str,
) -> QuotaView:
    """Return the user to the defaults (idempotent), and write them into the user's ResourceQuota."""
    _check_admin(admin)
    account = await _account(session, settings, sub)
    override = await repository.get(session, sub)
    if override is not None:
        await repository.delete(session, override)
        await session.commit()
        log.info("quota override of %s removed by %s", sub, admin.sub)
    quota = defaults(settings)
    state = await cluster.apply(sub, quota) if cluster is not None else None
    _log_cluster(sub, state)
    return QuotaView(sub, quota, quota, None, account, state)


def _log_cluster(sub: str, state: ClusterState | None) -> None:
    if state is not None and state.status == "failed":
        log.warning("quota of %s stored, but the cluster was not updated: %s", sub, state.message)
