"""Per-deployment API keys: `pdk_<prefix>_<secret>`, shown once, stored as a SHA-256 of the whole key.

The secret carries 256 random bits, so a fast hash is the right tool (as GitHub and Stripe do for
tokens): a password hash would only slow every prediction down. The prefix is unique and indexed,
so a key is found with one lookup and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from podml.auth.principal import Principal
from podml.database import utcnow
from podml.deployments import repository
from podml.deployments.exceptions import ApiKeyNotFound
from podml.deployments.models import ApiKey
from podml.deployments.service import get as get_deployment

KEY_PREFIX = "pdk_"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


async def create(
    session: AsyncSession, principal: Principal, deployment_id: uuid.UUID, name: str
) -> tuple[ApiKey, str]:
    """A new key and its secret text (which is never stored and cannot be shown again)."""
    deployment = await get_deployment(session, principal, deployment_id)
    prefix = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        deployment_id=deployment.id,
        owner_sub=principal.sub,
        name=name.strip() or "default",
        prefix=prefix,
        secret_hash=_hash(key),
    )
    await repository.add_key(session, row)
    await session.commit()
    return row, key


async def get_all(
    session: AsyncSession, principal: Principal, deployment_id: uuid.UUID, *, limit: int, offset: int
) -> tuple[Sequence[ApiKey], int]:
    await get_deployment(session, principal, deployment_id)
    return await repository.get_keys(session, principal.sub, deployment_id, limit=limit, offset=offset)


async def revoke(
    session: AsyncSession, principal: Principal, deployment_id: uuid.UUID, key_id: uuid.UUID
) -> ApiKey:
    await get_deployment(session, principal, deployment_id)
    key = await repository.get_key(session, principal.sub, deployment_id, key_id)
    if key is None:
        raise ApiKeyNotFound()
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await session.commit()
    return key


async def verify(session: AsyncSession, token: str) -> ApiKey | None:
    """The live key `token` is, or None (unknown, malformed, revoked)."""
    body = token[len(KEY_PREFIX) :] if looks_like_key(token) else ""
    prefix, _, secret = body.partition("_")
    if not prefix or not secret:
        return None
    row = await repository.get_key_by_prefix(session, prefix)
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_hash, _hash(token)):
        return None
    return row
