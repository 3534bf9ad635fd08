"""Auth routes: thin HTTP over `auth.service`."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from limits import parse

from podml.auth import service
from podml.auth.schemas import (
    EmailExists,
    LoginRequest,
    PublicConfig,
    TokenResponse,
    UserCreate,
    UserRead,
)
from podml.deps import CurrentUser, SessionDep, SettingsDep
from podml.errors import TooManyRequests

public_router = APIRouter(tags=["auth"])
router = APIRouter(tags=["auth"])


@public_router.post("/api/auth/register", status_code=201, response_model=UserRead)
async def register(body: UserCreate, session: SessionDep, settings: SettingsDep) -> UserRead:
    user = await service.register(session, settings, body)
    return UserRead.model_validate(service.principal_from_user(user), from_attributes=True)


@public_router.post("/api/auth/login", response_model=TokenResponse)
async def login(body: LoginRequest, session: SessionDep, settings: SettingsDep) -> TokenResponse:
    issued = await service.login(session, settings, body.email, body.password)
    return TokenResponse(access_token=issued.token, expires_in=issued.expires_in)


@public_router.get("/api/auth/email-exists", response_model=EmailExists)
async def email_exists(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: str = Query(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$"),
) -> EmailExists:
    client = request.client.host if request.client else "unknown"
    limit = parse(f"{settings.email_exists_per_minute}/minute")
    if not await request.app.state.rate_limiter.hit(limit, "email-exists", client):
        raise TooManyRequests("too many email look-ups; try again in a minute")
    exists = await service.email_exists(session, settings, request.app.state.email_directory, email.lower())
    return EmailExists(exists=exists)


@public_router.get("/api/config", response_model=PublicConfig)
async def public_config(settings: SettingsDep) -> PublicConfig:
    cognito = settings.auth_mode == "cognito"
    return PublicConfig(
        auth_mode=settings.auth_mode,
        allow_registration=settings.allow_registration and not cognito,
        cognito_region=settings.cognito_region if cognito else None,
        cognito_user_pool_id=settings.cognito_user_pool_id if cognito else None,
        cognito_client_id=settings.cognito_client_id if cognito else None,
        cognito_endpoint_url=(settings.cognito_endpoint_url or None) if cognito else None,
        cognito_auth_flow=settings.cognito_auth_flow if cognito else None,
        max_upload_bytes=settings.max_upload_bytes,
    )


@router.get("/api/auth/me", response_model=UserRead)
async def me(principal: CurrentUser) -> UserRead:
    return UserRead.model_validate(principal, from_attributes=True)
