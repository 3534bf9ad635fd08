"""Password hashing (argon2 via pwdlib) and the platform's own access tokens (HS256 JWTs)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from pwdlib import PasswordHash

# Claim values and the algorithm name, not secrets.
TOKEN_ISSUER = "podml"  # noqa: S105
TOKEN_AUDIENCE = "podml-api"  # noqa: S105
TOKEN_ALGORITHM = "HS256"  # noqa: S105

_hasher = PasswordHash.recommended()
# Verified against when the email is unknown, so a login takes as long either way.
_DUMMY_HASH = _hasher.hash("podml-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    if password_hash is None:
        _hasher.verify(password, _DUMMY_HASH)
        return False
    return _hasher.verify(password, password_hash)


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int


def create_access_token(sub: str, secret: str, expires_minutes: int) -> IssuedToken:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": sub,
        "iss": TOKEN_ISSUER,
        "aud": TOKEN_AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=expires_minutes),
        "token_use": "access",
    }
    token = jwt.encode(claims, secret, algorithm=TOKEN_ALGORITHM)
    return IssuedToken(token=token, expires_in=expires_minutes * 60)


class LocalTokenError(Exception):
    """The bearer token is not one this platform issued, or it has expired."""


def decode_access_token(token: str, secret: str) -> str:
    """The token's subject; raises `LocalTokenError` for anything but a valid, unexpired HS256 token."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[TOKEN_ALGORITHM],
            audience=TOKEN_AUDIENCE,
            issuer=TOKEN_ISSUER,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise LocalTokenError("token expired") from exc
    except jwt.PyJWTError as exc:
        raise LocalTokenError("invalid token") from exc
    if claims.get("token_use") != "access" or not isinstance(claims.get("sub"), str):
        raise LocalTokenError("invalid token")
    return str(claims["sub"])
