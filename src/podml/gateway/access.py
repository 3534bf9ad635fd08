"""Who may call a deployment through the gateway: the owner (their usual token), a holder of one of
the deployment's API keys, or anyone when it is `public`. Anyone else's deployment is not found.

Every prediction would otherwise cost a database round trip or two, so answers are cached briefly:
a deployment's row for 2 s, a token's owner and an API key's deployment for 5 s. Changes made
through this process (PATCH, DELETE, revoking a key) drop the cache at once; other API replicas
see them within those few seconds.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from podml.auth import service as auth_service
from podml.config import Settings
from podml.database import utcnow
from podml.deployments import keys, repository
from podml.errors import NotFound, Unauthorized

DEPLOYMENT_TTL = 2.0
CREDENTIAL_TTL = 5.0
_MAX_CACHED = 10_000


class DeploymentNotFound(NotFound):
    detail = "deployment not found"


@dataclass(frozen=True)
class Target:
    """What the gateway needs to know about a deployment to route a call to it."""

    id: uuid.UUID
    owner_sub: str
    public: bool
    status: str
    reason: str | None


class Access:
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, token_verifier: Any
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.token_verifier = token_verifier
        self._targets: dict[uuid.UUID, tuple[Target | None, float]] = {}
        self._owners: dict[str, tuple[str, float]] = {}  # bearer token -> owner sub
        self._keys: dict[str, tuple[uuid.UUID, float]] = {}  # API key -> its deployment

    def invalidate(self, deployment_id: uuid.UUID) -> None:
        self._targets.pop(deployment_id, None)

    def forget_keys(self) -> None:
        self._keys.clear()

    async def authorize(
        self, deployment_id: uuid.UUID, authorization: str | None, debug_sub: str | None = None
    ) -> Target:
        """The deployment, if this caller may use it; raises 404 or 401 otherwise."""
        target = await self._target(deployment_id)
        if target is None:
            raise DeploymentNotFound()
        if target.public:
            return target
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and keys.looks_like_key(token):
            if await self._key_deployment(token) != deployment_id:
                raise Unauthorized("invalid or revoked API key for this deployment")
            return target
        if not token and not (debug_sub and self.settings.allow_debug_sub):
            raise Unauthorized(
                "this deployment is private: send 'Authorization: Bearer <token>' with the owner's "
                "token or one of the deployment's API keys"
            )
        if await self._owner(authorization, debug_sub) != target.owner_sub:
            raise DeploymentNotFound()
        return target

    async def _target(self, deployment_id: uuid.UUID) -> Target | None:
        now = time.monotonic()
        cached = self._targets.get(deployment_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        async with self.sessionmaker() as session:
            row = await repository.get_live(session, deployment_id)
        target = (
            Target(row.id, row.owner_sub, row.public, row.status, row.reason) if row is not None else None
        )
        if len(self._targets) > _MAX_CACHED:
            self._targets.clear()
        self._targets[deployment_id] = (target, now + DEPLOYMENT_TTL)
        return target

    async def _owner(self, authorization: str | None, debug_sub: str | None) -> str:
        now = time.monotonic()
        cache_key = authorization or ""
        cached = self._owners.get(cache_key) if authorization else None
        if cached is not None and cached[1] > now:
            return cached[0]
        async with self.sessionmaker() as session:
            principal = await auth_service.resolve_principal(
                session,
                self.settings,
                self.token_verifier,
                authorization=authorization,
                debug_sub=debug_sub,
            )
        if authorization:
            if len(self._owners) > _MAX_CACHED:
                self._owners.clear()
            self._owners[cache_key] = (principal.sub, now + CREDENTIAL_TTL)
        return principal.sub

    async def _key_deployment(self, token: str) -> uuid.UUID | None:
        now = time.monotonic()
        cached = self._keys.get(token)
        if cached is not None and cached[1] > now:
            return cached[0]
        async with self.sessionmaker() as session:
            row = await keys.verify(session, token)
            if row is None:
                return None
            await repository.touch_key(session, row.id, utcnow())
            await session.commit()
            deployment_id = row.deployment_id
        if len(self._keys) > _MAX_CACHED:
            self._keys.clear()
        self._keys[token] = (deployment_id, now + CREDENTIAL_TTL)
        return deployment_id
