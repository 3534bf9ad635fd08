"""HMAC-signed, expiring URLs for the local storage backend (the local twin of S3 presigned URLs).

A URL is `{public_url}/api/files/{quoted key}?method=GET|PUT&expires=<unix ts>&sig=<hex>` with an
optional `content_type=`. The MAC (HMAC-SHA256) covers the method, the key, the expiry and the
content type. Like S3: for a PUT the client must send that exact `Content-Type`; for a GET the file
is served with it.

The MAC key is derived from the platform's secret key for this one purpose, so a file signature can
never be replayed as (or confused with) any other token the platform signs with the same secret.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote, urlencode

from podml.storage.base import Method

__all__ = [
    "FILES_PATH",
    "SignatureError",
    "SignatureExpiredError",
    "SignatureMismatchError",
    "UrlSigner",
]

FILES_PATH = "/api/files/"
_PURPOSE = b"podml.storage.signed-url.v1"
_METHODS: frozenset[str] = frozenset({"GET", "PUT"})


class SignatureError(Exception):
    """A signed URL was refused; the message names why and never contains a secret."""


class SignatureMismatchError(SignatureError):
    """The signature does not cover this method, key, expiry and content type (tampered or forged)."""

    def __init__(self, message: str = "signature does not match") -> None:
        super().__init__(message)


class SignatureExpiredError(SignatureError):
    """The signature is genuine but its expiry has passed."""

    def __init__(self, message: str = "URL expired") -> None:
        super().__init__(message)


class UrlSigner:
    """Signs and verifies `/api/files/...` URLs for one secret and one public base URL."""

    def __init__(self, secret_key: bytes, public_url: str) -> None:
        if not secret_key:
            raise ValueError("a secret key is required to sign storage URLs")
        self._mac_key = hmac.new(secret_key, _PURPOSE, hashlib.sha256).digest()
        self.public_url = public_url.rstrip("/")

    def __repr__(self) -> str:  # never show the key
        return f"UrlSigner(public_url={self.public_url!r})"

    def signature(self, key: str, method: str, expires: int, content_type: str | None) -> str:
        message = "\n".join((method, key, str(expires), content_type or "")).encode("utf-8")
        return hmac.new(self._mac_key, message, hashlib.sha256).hexdigest()

    def url(
        self,
        key: str,
        method: Method,
        expires_in: int,
        content_type: str | None = None,
        *,
        now: float | None = None,
    ) -> str:
        if method not in _METHODS:
            raise ValueError(f"method must be GET or PUT, not {method!r}")
        if expires_in < 1:
            raise ValueError("expires_in must be at least 1 second")
        expires = int(time.time() if now is None else now) + expires_in
        query: dict[str, str] = {"method": method, "expires": str(expires)}
        if content_type:
            query["content_type"] = content_type
        query["sig"] = self.signature(key, method, expires, content_type)
        return f"{self.public_url}{FILES_PATH}{quote(key, safe='/')}?{urlencode(query)}"

    def verify(
        self,
        key: str,
        method: str,
        expires: int | str,
        sig: str,
        content_type: str | None = None,
        *,
        now: float | None = None,
    ) -> None:
        """Return if the signature is genuine and unexpired; else raise a `SignatureError`.

        The MAC is checked first, so a tampered expiry is reported as a mismatch, not as expired.
        """
        if method not in _METHODS:
            raise SignatureMismatchError(f"method {method!r} cannot be signed")
        try:
            expires_at = int(expires)
        except (TypeError, ValueError):
            raise SignatureMismatchError("signature does not match (malformed expiry)") from None
        expected = self.signature(key, method, expires_at, content_type)
        if not hmac.compare_digest(expected.encode("ascii"), str(sig).lower().encode("utf-8")):
            raise SignatureMismatchError()
        if (time.time() if now is None else now) > expires_at:
            raise SignatureExpiredError()
