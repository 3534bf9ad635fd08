"""Every route needs a signed-in caller unless it is on the explicit public list."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from podml.api import PUBLIC_ROUTES
from podml.deps import get_current_principal

DOC_ROUTES = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/"}


def _requires_auth(dependant: Dependant) -> bool:
    return any(dep.call is get_current_principal or _requires_auth(dep) for dep in dependant.dependencies)


def _api_routes(app: FastAPI) -> list[tuple[str, str, Dependant]]:
    """(method, full path, effective dependant) of every API route, included routers flattened."""
    return [
        (method, str(context.path), context.dependant)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        for method in sorted(context.methods or ())
    ]


def test_public_list_matches_real_routes(app: FastAPI) -> None:
    existing = {(method, path) for method, path, _ in _api_routes(app)}
    stale = set(PUBLIC_ROUTES) - existing
    assert not stale, f"public list names routes that do not exist: {stale}"


def test_every_other_route_depends_on_the_caller(app: FastAPI) -> None:
    unguarded = [
        f"{method} {path}"
        for method, path, dependant in _api_routes(app)
        if (method, path) not in PUBLIC_ROUTES and path not in DOC_ROUTES and not _requires_auth(dependant)
    ]
    assert not unguarded, f"routes without authentication: {unguarded}"
    assert len(_api_routes(app)) > len(PUBLIC_ROUTES) + 5


async def test_every_guarded_route_answers_401_without_a_token(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    checked = 0
    for method, path, _ in _api_routes(app):
        if (method, path) in PUBLIC_ROUTES or path in DOC_ROUTES:
            continue
        concrete = re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)
        response = await client.request(method, concrete)
        assert response.status_code == 401, f"{method} {path} answered {response.status_code}"
        checked += 1
    assert checked >= 10
