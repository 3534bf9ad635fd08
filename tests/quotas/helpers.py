"""Administrators for tests: made the way `podml user create --admin` makes them, then signed in."""

from __future__ import annotations

import uuid

from fastapi import FastAPI

from podml.auth import service as auth_service
from tests.support.api import Api, ApiUser

PASSWORD = "correct horse battery"


async def new_admin(api: Api, app: FastAPI) -> ApiUser:
    email = f"admin-{uuid.uuid4().hex[:10]}@example.com"
    async with app.state.sessionmaker() as session:
        user = await auth_service.create_user(session, email=email, password=PASSWORD, role="admin")
    login = await api.client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return ApiUser(email=email, password=PASSWORD, token=login.json()["access_token"], sub=user.sub)


def quota_url(sub: str) -> str:
    return f"/api/v1/admin/users/{sub}/quota"
