"""Verify Cognito (or any OIDC issuer's) ID tokens against the issuer's JWKS.

Rules, in order: the token must be a compact JWS whose header pins `alg: RS256` and names a `kid`;
the key comes from the JWKS (fetched over HTTP, cached, refetched on an unknown `kid` at most once per
`min_refetch_interval` seconds, one fetch at a time); the signature must verify; `iss` must equal the
issuer exactly, `aud` the app client id, `token_use` must be `id`; `exp`, `iat` and `sub` are required.

Two failures, two statuses: `InvalidTokenError` (401) says the caller's token is bad;
`JWKSUnavailableError` (503) says we could not get the keys to tell. Tokens are never logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import jwt

from podml.errors import ServiceUnavailable, Unauthorized

logger = logging.getLogger(__name__)

ALGORITHM = "RS256"
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub", "token_use")
MAX_TOKEN_LENGTH = 16 * 1024
MAX_JWKS_BYTES = 1024 * 1024


class InvalidTokenError(Unauthorized):
    """The token is not a valid ID token for this issuer and app client (HTTP 401).

    `reason` is short and safe to show to the caller ("token expired", "wrong audience", ...).
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class JWKSUnavailableError(ServiceUnavailable):
    """The signing keys could not be fetched, so no verdict is possible (HTTP 503).

    `reason` names the cause for logs; the HTTP detail stays generic.
    """

    detail = "authentication service unavailable"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__()

    def __str__(self) -> str:
        return f"JWKS unavailable: {self.reason}"


# PyJWT's exception → our reason. Order matters: subclasses before their bases.
_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not yet valid"),
    (jwt.InvalidAudienceError, "wrong audience"),
    (jwt.InvalidIssuerError, "wrong issuer"),
    (jwt.InvalidSignatureError, "bad signature"),
    (jwt.InvalidAlgorithmError, "unsupported algorithm"),
    (jwt.InvalidIssuedAtError, "invalid issued-at"),
    (jwt.DecodeError, "malformed token"),
)


class CognitoJWTVerifier:
    """Verifies ID tokens; one instance per process (it owns the JWKS cache).

    `jwks_url` is separate from `issuer` so an emulator (moto serves keys at
    `http://HOST:PORT/<pool_id>/.well-known/jwks.json`) can stand in for
    `https://cognito-idp.<region>.amazonaws.com/<pool_id>/.well-known/jwks.json`.
    `max_cache_age` bounds how long a key removed from the JWKS keeps being trusted; if the JWKS is
    unreachable when the cache ages out, the cached keys stay in use rather than locking everyone out.
    """

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        jwks_url: str,
        min_refetch_interval: float = 10.0,
        http_timeout: float = 5.0,
        leeway: float = 0,
        max_cache_age: float = 3600.0,
    ) -> None:
        if not issuer or not client_id or not jwks_url:
            raise ValueError("issuer, client_id and jwks_url are all required")
        if min_refetch_interval < 0 or http_timeout <= 0 or leeway < 0 or max_cache_age <= 0:
            raise ValueError("intervals, timeouts and leeway must be positive")
        self._issuer = issuer
        self._client_id = client_id
        self._jwks_url = jwks_url
        self._min_refetch_interval = float(min_refetch_interval)
        self._http_timeout = float(http_timeout)
        self._leeway = float(leeway)
        self._max_cache_age = float(max_cache_age)
        self._keys: dict[str, jwt.PyJWK] | None = None
        self._fetched_at: float | None = None  # monotonic time of the last successful fetch
        self._attempted_at: float | None = None  # monotonic time of the last fetch, good or bad
        self._last_error: JWKSUnavailableError | None = None  # set when the last fetch failed
        self._lock = asyncio.Lock()
        self.fetch_count = 0  # JWKS fetches attempted (for metrics and tests)

    @property
    def issuer(self) -> str:
        return self._issuer

    @property
    def client_id(self) -> str:
        return self._client_id

    @property
    def jwks_url(self) -> str:
        return self._jwks_url

    @property
    def min_refetch_interval(self) -> float:
        return self._min_refetch_interval

    async def verify(self, token: str) -> dict[str, Any]:
        """Return the token's claims, or raise `InvalidTokenError` / `JWKSUnavailableError`."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidTokenError("malformed token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidTokenError("malformed token") from None
        if header.get("alg") != ALGORITHM:
            raise InvalidTokenError("unsupported algorithm")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidTokenError("missing key id")

        key = await self._signing_key(kid)
        if key is None:
            raise InvalidTokenError("unknown signing key")

        try:
            claims = self._decode(token, key, REQUIRED_CLAIMS, check_audience=True)
        except jwt.PyJWTError as exc:
            if _is_audience_failure(exc):
                raise InvalidTokenError(self._explain_audience_failure(token, key, exc)) from None
            raise InvalidTokenError(_reason_for(exc)) from None

        if claims.get("token_use") != "id":
            raise InvalidTokenError("not an ID token")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise InvalidTokenError("missing claim sub")
        return claims

    def _decode(
        self, token: str, key: jwt.PyJWK, require: tuple[str, ...], *, check_audience: bool
    ) -> dict[str, Any]:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key,
            algorithms=[ALGORITHM],
            audience=self._client_id if check_audience else None,
            issuer=self._issuer,
            leeway=self._leeway,
            options={"require": list(require), "verify_aud": check_audience, "strict_aud": True},
        )
        return claims

    def _explain_audience_failure(self, token: str, key: jwt.PyJWK, exc: jwt.PyJWTError) -> str:
        """Why `aud` failed: a Cognito access token has `client_id` and no `aud`; say so."""
        try:
            claims = self._decode(
                token, key, tuple(c for c in REQUIRED_CLAIMS if c != "aud"), check_audience=False
            )
        except jwt.PyJWTError as other:
            return _reason_for(other)
        if claims.get("token_use") != "id":
            return "not an ID token"
        return _reason_for(exc)

    # -- keys ------------------------------------------------------------------------------------

    async def _signing_key(self, kid: str) -> jwt.PyJWK | None:
        """The key for `kid`, fetching the JWKS when it is unknown (rate limited) or aged out."""
        keys = self._keys
        if keys is not None and kid in keys and not self._aged_out(time.monotonic()):
            return keys[kid]  # the fast path: no lock, no I/O
        if keys is not None and kid in keys and self._lock.locked():
            return keys[kid]  # aged out and a refresh is under way: serve the cached key meanwhile

        async with self._lock:
            now = time.monotonic()
            keys = self._keys
            if keys is not None and kid in keys and not self._aged_out(now):
                return keys[kid]  # another request refreshed while we waited

            may_fetch = self._attempted_at is None or now - self._attempted_at >= self._min_refetch_interval
            if may_fetch:
                await self._refresh()

            keys = self._keys
            if keys is not None and kid in keys:
                return keys[kid]  # fresh, or stale but the JWKS is unreachable
            if self._last_error is not None:
                raise JWKSUnavailableError(self._last_error.reason)  # we cannot tell if the kid is real
            logger.debug("cognito: token signed with unknown key id %r", kid[:64])
            return None

    def _aged_out(self, now: float) -> bool:
        return self._fetched_at is not None and now - self._fetched_at >= self._max_cache_age

    async def _refresh(self) -> None:
        """Fetch the JWKS once; on failure keep the old keys and remember the error."""
        self._attempted_at = time.monotonic()
        self.fetch_count += 1
        try:
            keys = await self._fetch()
        except JWKSUnavailableError as exc:
            self._last_error = exc
            logger.warning("cognito: %s (url %s)", exc, self._jwks_url)
            return
        self._keys = keys
        self._fetched_at = time.monotonic()
        self._last_error = None
        logger.info("cognito: loaded %d signing key(s) from %s", len(keys), self._jwks_url)

    async def _fetch(self) -> dict[str, jwt.PyJWK]:
        try:
            async with httpx.AsyncClient(timeout=self._http_timeout, follow_redirects=False) as client:
                response = await client.get(self._jwks_url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise JWKSUnavailableError(f"fetch failed: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise JWKSUnavailableError(f"JWKS endpoint answered HTTP {response.status_code}")
        if len(response.content) > MAX_JWKS_BYTES:
            raise JWKSUnavailableError("JWKS document too large")
        try:
            document = response.json()
        except ValueError:
            raise JWKSUnavailableError("JWKS document is not JSON") from None
        return _usable_keys(document)


def _usable_keys(document: object) -> dict[str, jwt.PyJWK]:
    """RSA signing keys by kid; keys for other uses, algorithms or without a kid are ignored."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JWKSUnavailableError("JWKS document has no key list")
    try:
        jwk_set = jwt.PyJWKSet.from_dict(document)
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        raise JWKSUnavailableError("JWKS document has no usable keys") from None
    keys: dict[str, jwt.PyJWK] = {}
    for key in jwk_set.keys:
        if (
            isinstance(key.key_id, str)
            and key.key_id
            and key.key_type == "RSA"
            and key.public_key_use in (None, "sig")
            and key.algorithm_name == ALGORITHM
        ):
            keys[key.key_id] = key
    if not keys:
        raise JWKSUnavailableError("JWKS document has no RS256 signing keys")
    return keys


def _is_audience_failure(exc: jwt.PyJWTError) -> bool:
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return exc.claim == "aud"
    return isinstance(exc, jwt.InvalidAudienceError)


def _reason_for(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"missing claim {exc.claim}"
    for exc_type, reason in _REASONS:
        if isinstance(exc, exc_type):
            return reason
    return "invalid token"
