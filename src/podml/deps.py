"""Request dependencies as `Annotated` aliases (SessionDep, SettingsDep, StorageDep, CurrentUser,
AdminUser).

Everything comes from `request.app.state`, filled once by `create_app`, so tests can build apps
with different settings side by side.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncSession

from podml.auth import service as auth_service
from podml.auth.exceptions import AdminRequired
from podml.auth.principal import Principal
from podml.config import Settings
from podml.storage.base import Storage


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_storage(request: Request) -> Storage:
    storage: Storage = request.app.state.storage
    return storage


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
StorageDep = Annotated[Storage, Depends(get_storage)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_current_principal(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    x_debug_sub: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    principal = getattr(request.state, "principal", None)
    if isinstance(principal, Principal):
        return principal
    principal = await auth_service.resolve_principal(
        session,
        settings,
        request.app.state.token_verifier,
        authorization=authorization,
        debug_sub=x_debug_sub,
    )
    request.state.principal = principal
    return principal


CurrentUser = Annotated[Principal, Depends(get_current_principal)]


async def get_current_admin(principal: CurrentUser) -> Principal:
    """The caller, if an administrator (built-in role `admin`, or the Cognito admin group); else 403."""
    if not principal.is_admin:
        raise AdminRequired()
    return principal


AdminUser = Annotated[Principal, Depends(get_current_admin)]


def wake_reconciler(request: Request) -> None:
    """Ask the reconciler (when this process runs one) to act now rather than at its next pass."""
    reconciler = getattr(request.app.state, "reconciler", None)
    if reconciler is not None:
        reconciler.wake()
