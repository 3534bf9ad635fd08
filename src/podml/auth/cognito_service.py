"""Server-side lookups in a Cognito user pool (boto3 `cognito-idp`, run in a worker thread).

Credentials come from boto3's default chain (environment, profile, instance role). Every AWS failure
becomes `CognitoServiceError` (HTTP 503); a user that does not exist is an answer, not an error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from podml.errors import ServiceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

# Cognito rejects filters longer than 256 characters; an email that long cannot be on file anyway.
MAX_FILTER_VALUE_LENGTH = 200


class CognitoServiceError(ServiceUnavailable):
    """Cognito could not answer (unreachable, throttled, misconfigured pool or credentials)."""

    detail = "user directory unavailable"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__()

    def __str__(self) -> str:
        return f"Cognito unavailable: {self.reason}"


@dataclass(frozen=True)
class CognitoUser:
    username: str
    sub: str | None
    email: str | None
    enabled: bool
    status: str
    attributes: dict[str, str] = field(default_factory=dict)


def quote_filter_value(value: str) -> str:
    """`value` as a double-quoted ListUsers filter literal: backslashes and quotes escaped.

    Control characters are refused (ValueError): they have no business in an email or a username.
    """
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ValueError("control characters are not allowed in a filter value")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


class CognitoService:
    """Thin async wrapper over the user-pool APIs PodML needs."""

    def __init__(
        self,
        *,
        region: str,
        user_pool_id: str,
        endpoint_url: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
    ) -> None:
        if not region or not user_pool_id:
            raise ValueError("region and user_pool_id are required")
        self._user_pool_id = user_pool_id
        config = Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": 3, "mode": "standard"},
        )
        # boto3 clients are thread-safe; sessions are not, so build the client once, here.
        session = boto3.session.Session()
        self._client: CognitoIdentityProviderClient = session.client(
            "cognito-idp", region_name=region, endpoint_url=endpoint_url or None, config=config
        )

    @property
    def user_pool_id(self) -> str:
        return self._user_pool_id

    async def email_exists(self, email: str) -> bool:
        """Whether a user with exactly this email is in the pool."""
        email = email.strip()
        if not email or len(email) > MAX_FILTER_VALUE_LENGTH:
            return False
        try:
            filter_expr = f"email = {quote_filter_value(email)}"
        except ValueError:
            return False
        response = await self._call(
            "ListUsers",
            self._client.list_users,
            UserPoolId=self._user_pool_id,
            Filter=filter_expr,
            AttributesToGet=["email"],
            Limit=10,
        )
        # Belt and braces: trust only an exact (case-insensitive) match, whatever the filter did.
        wanted = email.casefold()
        for user in response.get("Users", []):
            attributes = _attributes(user.get("Attributes", []))
            if attributes.get("email", "").casefold() == wanted:
                return True
        return False

    async def get_user(self, username: str) -> CognitoUser | None:
        """The user named `username` (or alias, e.g. email when the pool allows it), or None."""
        if not username:
            return None
        try:
            response = await self._call(
                "AdminGetUser",
                self._client.admin_get_user,
                UserPoolId=self._user_pool_id,
                Username=username,
            )
        except _UserNotFound:
            return None
        attributes = _attributes(response.get("UserAttributes", []))
        return CognitoUser(
            username=response["Username"],
            sub=attributes.get("sub"),
            email=attributes.get("email"),
            enabled=bool(response.get("Enabled", True)),
            status=str(response.get("UserStatus", "UNKNOWN")),
            attributes=attributes,
        )

    async def _call(self, operation: str, method: Callable[..., _T], **kwargs: Any) -> _T:
        try:
            return await asyncio.to_thread(method, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            if code == "UserNotFoundException":
                raise _UserNotFound from None
            logger.warning("cognito: %s failed: %s", operation, code)
            raise CognitoServiceError(f"{operation} failed: {code}") from exc
        except BotoCoreError as exc:
            logger.warning("cognito: %s failed: %s", operation, type(exc).__name__)
            raise CognitoServiceError(f"{operation} failed: {type(exc).__name__}") from exc


class _UserNotFound(Exception):
    pass


def _attributes(items: Any) -> dict[str, str]:
    return {item["Name"]: item.get("Value", "") for item in items if "Name" in item}
