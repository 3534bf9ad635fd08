"""Account rules: registration, login, resolving a request's caller, email look-ups."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from podml.auth import exceptions, repository
from podml.auth.models import User
from podml.auth.principal import Principal
from podml.auth.schemas import UserCreate
from podml.auth.security import (
    IssuedToken,
    LocalTokenError,
    create_access_token,
    decode_access_token,
    hash_password,
    verify_password,
)
from podml.config import Settings
from podml.errors import ServiceUnavailable

log = logging.getLogger(__name__)


class TokenVerifier(Protocol):
    """What Cognito (or any OIDC) mode needs: claims from a token, or an exception."""

    async def verify(self, token: str) -> dict[str, Any]: ...


class EmailDirectory(Protocol):
    async def email_exists(self, email: str) -> bool: ...


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    display_name: str | None = None,
    role: str = "user",
) -> User:
    user_id = uuid.uuid4()
    user = User(
        id=user_id,
        sub=str(user_id),
        email=email.lower(),
        password_hash=hash_password(password),
        display_name=display_name,
        role=role,
    )
    try:
        await repository.create(session, user)
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise exceptions.EmailAlreadyRegistered() from exc
    return user


async def register(session: AsyncSession, settings: Settings, data: UserCreate) -> User:
    if settings.auth_mode != "local":
        raise exceptions.LocalAccountsDisabled()
    if not settings.allow_registration:
        raise exceptions.RegistrationClosed()
    if await repository.get_by_email(session, data.email) is not None:
        raise exceptions.EmailAlreadyRegistered()
    return await create_user(
        session, email=data.email, password=data.password, display_name=data.display_name
    )


async def login(session: AsyncSession, settings: Settings, email: str, password: str) -> IssuedToken:
    if settings.auth_mode != "local":
        raise exceptions.LocalAccountsDisabled()
    user = await repository.get_by_email(session, email)
    hashed = user.password_hash if user is not None and user.is_active else None
    if not verify_password(password, hashed) or user is None:
        raise exceptions.InvalidCredentials()
    return create_access_token(
        user.sub, settings.secret_key.get_secret_value(), settings.access_token_expire_minutes
    )


async def get_user(session: AsyncSession, sub: str) -> User | None:
    """The built-in account with this sub (None for an unknown sub, and for every Cognito user)."""
    return await repository.get_by_sub(session, sub)


async def users_by_sub(session: AsyncSession, subs: Collection[str]) -> dict[str, User]:
    return {user.sub: user for user in await repository.get_by_subs(session, subs)}


def principal_from_user(user: User) -> Principal:
    return Principal(sub=user.sub, email=user.email, display_name=user.display_name, role=user.role)


def principal_from_claims(claims: dict[str, Any], admin_group: str) -> Principal:
    groups = claims.get("cognito:groups") or []
    return Principal(
        sub=str(claims["sub"]),
        email=claims.get("email"),
        display_name=claims.get("name") or claims.get("cognito:username"),
        role="admin" if admin_group in groups else "user",
    )


async def resolve_principal(
    session: AsyncSession,
    settings: Settings,
    verifier: TokenVerifier | None,
    *,
    authorization: str | None,
    debug_sub: str | None,
) -> Principal:
    """The caller, from `X-Debug-Sub` (only when allowed) or the bearer token; else 401."""
    if debug_sub and settings.allow_debug_sub:
        return Principal(sub=debug_sub)
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise exceptions.NotAuthenticated()
    token = token.strip()
    if settings.auth_mode == "local":
        try:
            sub = decode_access_token(token, settings.secret_key.get_secret_value())
        except LocalTokenError as exc:
            raise exceptions.NotAuthenticated(str(exc)) from exc
        user = await repository.get_by_sub(session, sub)
        if user is None or not user.is_active:
            raise exceptions.NotAuthenticated("account not found or disabled")
        return principal_from_user(user)
    assert verifier is not None, "cognito mode without a verifier"
    from podml.auth.cognito import InvalidTokenError, JWKSUnavailableError

    try:
        claims = await verifier.verify(token)
    except JWKSUnavailableError as exc:
        log.warning("cannot fetch the identity provider's signing keys: %s", exc)
        raise ServiceUnavailable("cannot reach the identity provider to verify the token") from exc
    except InvalidTokenError as exc:
        raise exceptions.NotAuthenticated(str(exc)) from exc
    return principal_from_claims(claims, settings.cognito_admin_group)


async def email_exists(
    session: AsyncSession, settings: Settings, directory: EmailDirectory | None, email: str
) -> bool:
    if settings.auth_mode == "local":
        return await repository.get_by_email(session, email) is not None
    assert directory is not None, "cognito mode without a directory"
    return await directory.email_exists(email)
