"""A thin test client for the HTTP API: sign up users and call routes as them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class ApiUser:
    email: str
    password: str
    token: str
    sub: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Api:
    client: httpx.AsyncClient
    _counter: list[int] = field(default_factory=lambda: [0])

    async def new_user(self, *, display_name: str | None = None) -> ApiUser:
        email = f"user-{uuid.uuid4().hex[:10]}@example.com"
        password = "correct horse battery"
        body: dict[str, Any] = {"email": email, "password": password}
        if display_name:
            body["display_name"] = display_name
        response = await self.client.post("/api/auth/register", json=body)
        assert response.status_code == 201, response.text
        login = await self.client.post("/api/auth/login", json={"email": email, "password": password})
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        me = await self.client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        return ApiUser(email=email, password=password, token=token, sub=me.json()["sub"])

    async def upload_csv(
        self, user: ApiUser, content: bytes | str, *, filename: str = "data.csv", name: str | None = None
    ) -> httpx.Response:
        data = content.encode() if isinstance(content, str) else content
        form = {"name": name} if name is not None else None
        return await self.client.post(
            "/api/datasets",
            headers=user.headers,
            files={"file": (filename, data, "text/csv")},
            data=form,
        )

    async def dataset(self, user: ApiUser, content: str, **kwargs: Any) -> dict[str, Any]:
        response = await self.upload_csv(user, content, **kwargs)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body
