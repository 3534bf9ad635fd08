"""Cognito for PodML's `auth_mode=cognito`: ID-token verification and user-pool lookups.

The two halves live in `cognito_verifier` (no AWS SDK, HTTP only) and `cognito_service` (boto3);
this module re-exports both and builds them from settings.
"""

from __future__ import annotations

from podml.auth.cognito_service import CognitoService, CognitoServiceError, CognitoUser, quote_filter_value
from podml.auth.cognito_verifier import CognitoJWTVerifier, InvalidTokenError, JWKSUnavailableError
from podml.config import Settings

__all__ = [
    "CognitoJWTVerifier",
    "CognitoService",
    "CognitoServiceError",
    "CognitoUser",
    "InvalidTokenError",
    "JWKSUnavailableError",
    "quote_filter_value",
    "service_from_settings",
    "verifier_from_settings",
]


def verifier_from_settings(settings: Settings) -> CognitoJWTVerifier:
    """The verifier for the configured pool and app client (JWKS URL overridable for emulators)."""
    return CognitoJWTVerifier(
        issuer=settings.cognito_issuer,
        client_id=settings.cognito_client_id,
        jwks_url=settings.resolved_jwks_url,
    )


def service_from_settings(settings: Settings) -> CognitoService:
    return CognitoService(
        region=settings.cognito_region,
        user_pool_id=settings.cognito_user_pool_id,
        endpoint_url=settings.cognito_endpoint_url or None,
    )
