"""Deployment test helpers: upload a model version and deploy it through the API."""

from __future__ import annotations

import io
from typing import Any

import httpx
import joblib
from sklearn.linear_model import LinearRegression

from tests.support.api import ApiUser


def linear_model_bytes(slope: float = 2.0, intercept: float = 1.0) -> bytes:
    """A fitted y = slope * x0 + intercept (x1 ignored), as model.joblib bytes."""
    model = LinearRegression().fit([[0.0, 5.0], [1.0, 3.0], [2.0, 9.0], [3.0, 1.0]], [0.0, 1.0, 2.0, 3.0])
    model.coef_[:] = [slope, 0.0]
    model.intercept_ = intercept
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


async def upload_version(
    client: httpx.AsyncClient,
    user: ApiUser,
    model_name: str,
    model: bytes | None = None,
    requirements: str | None = None,
) -> dict[str, Any]:
    """A new version of the user's model `model_name` (created when missing), as uploaded."""
    found = (await client.get("/api/models", params={"name": model_name}, headers=user.headers)).json()
    if found["items"]:
        model_id = found["items"][0]["id"]
    else:
        created = await client.post("/api/models", headers=user.headers, json={"name": model_name})
        assert created.status_code == 201, created.text
        model_id = created.json()["id"]
    files: dict[str, Any] = {
        "model": ("model.joblib", model or linear_model_bytes(), "application/octet-stream")
    }
    if requirements is not None:
        files["requirements"] = ("requirements.txt", requirements.encode(), "text/plain")
    response = await client.post(f"/api/models/{model_id}/versions", headers=user.headers, files=files)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def deploy(client: httpx.AsyncClient, user: ApiUser, version_id: str, **body: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/deployments", headers=user.headers, json={"version_id": version_id, **body}
    )
    assert response.status_code == 201, response.text
    deployment: dict[str, Any] = response.json()
    return deployment
