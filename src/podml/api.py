"""The one router aggregator. Every route requires a signed-in caller unless listed in PUBLIC_ROUTES.

Public routes are mounted on `public`; everything else on `authenticated`, whose router-level
dependency resolves the caller. `tests/test_route_auth.py` walks the app's routes to prove it.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from podml.auth import router as auth_router
from podml.configurations import router as configuration_router
from podml.datasets import router as dataset_router
from podml.deployments import router as deployment_router
from podml.deps import get_current_principal
from podml.gateway import router as gateway_router
from podml.health import router as health_router
from podml.jobs import router as job_router
from podml.quotas import router as quota_router
from podml.registry import router as registry_router
from podml.storage import router as file_router

# (method, path) pairs reachable without a bearer token, and why.
PUBLIC_ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/api/auth/register"): "creating an account",
    ("POST", "/api/auth/login"): "signing in",
    ("GET", "/api/auth/email-exists"): "the sign-up form's check (rate limited)",
    ("GET", "/api/config"): "what the UI needs before sign-in",
    ("GET", "/healthz"): "liveness probe",
    ("GET", "/readyz"): "readiness probe",
    ("GET", "/metrics"): "Prometheus scrape",
    ("GET", "/api/files/{key:path}"): "signed URLs: the HMAC signature is the credential",
    ("PUT", "/api/files/{key:path}"): "signed URLs: the HMAC signature is the credential",
    # The gateway checks callers itself: the owner's token, a deployment API key, or none if public.
    ("POST", "/api/v1/predict/{deployment_id}"): "the gateway authenticates (token, API key or public)",
    ("GET", "/v2/models/{model_name}"): "the gateway authenticates (token, API key or public)",
    ("GET", "/v2/models/{model_name}/ready"): "the gateway authenticates (token, API key or public)",
    ("POST", "/v2/models/{model_name}/infer"): "the gateway authenticates (token, API key or public)",
    ("GET", "/v2/health/live"): "Open Inference Protocol liveness",
    ("GET", "/v2/health/ready"): "Open Inference Protocol readiness",
}

public = APIRouter()
public.include_router(health_router)
public.include_router(auth_router.public_router)
public.include_router(file_router.router)
public.include_router(gateway_router.router)

authenticated = APIRouter(dependencies=[Depends(get_current_principal)])
authenticated.include_router(auth_router.router)
authenticated.include_router(dataset_router.router)
authenticated.include_router(configuration_router.catalog_router)
authenticated.include_router(configuration_router.router)
# After the catalog: GET /api/models/catalog must match before GET /api/models/{model_id}.
authenticated.include_router(registry_router.router)
authenticated.include_router(registry_router.version_router)
authenticated.include_router(job_router.router)
authenticated.include_router(deployment_router.router)
# Administrators only: each route also depends on `AdminUser` (403 for anyone else).
authenticated.include_router(quota_router.router)

api_router = APIRouter()
api_router.include_router(public)
api_router.include_router(authenticated)
