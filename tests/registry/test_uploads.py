"""Uploading model.joblib (+ requirements.txt): stored under the version's prefix, never unpickled."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import joblib
from fastapi import FastAPI
from sklearn.linear_model import LinearRegression

from tests.support.api import Api, ApiUser


def model_bytes(compress: int = 0) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(LinearRegression().fit([[0.0], [1.0], [2.0]], [1.0, 3.0, 5.0]), buffer, compress=compress)
    return buffer.getvalue()


async def _model(api: Api, user: ApiUser, name: str = "uploaded") -> dict[str, Any]:
    response = await api.client.post("/api/models", headers=user.headers, json={"name": name})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_upload_stores_files_and_waits_for_a_server(api: Api, app: FastAPI) -> None:
    user = await api.new_user()
    model = await _model(api, user)
    requirements = "scikit-learn>=1.0\nnumpy\n"
    response = await api.client.post(
        f"/api/models/{model['id']}/versions",
        headers=user.headers,
        files={
            "model": ("model.joblib", model_bytes(), "application/octet-stream"),
            "requirements": ("requirements.txt", requirements.encode(), "text/plain"),
        },
    )
    assert response.status_code == 201, response.text
    version = response.json()
    assert version["status"] == "building"
    assert version["source"] == "upload"
    assert version["version_tag"] == "v1"
    root: Path = app.state.settings.storage_dir
    prefix = root / "models" / user.sub / model["id"] / version["id"]
    assert (prefix / "model.joblib").read_bytes() == model_bytes()
    assert (prefix / "requirements.txt").read_text() == requirements
    compressed = await api.client.post(
        f"/api/models/{model['id']}/versions",
        headers=user.headers,
        files={"model": ("model.joblib", model_bytes(compress=3), "application/octet-stream")},
    )
    assert compressed.status_code == 201
    assert compressed.json()["version_tag"] == "v2"


async def test_bad_uploads_are_refused_and_store_nothing(api: Api, app: FastAPI) -> None:
    user = await api.new_user()
    model = await _model(api, user)
    url = f"/api/models/{model['id']}/versions"
    cases = [
        ({"model": ("model.joblib", b"", "application/octet-stream")}, 422, "not a joblib"),
        ({"model": ("model.joblib", b"PK\x03\x04 a zip", "application/octet-stream")}, 422, "not a joblib"),
        ({"requirements": ("requirements.txt", b"numpy\n", "text/plain")}, 422, "'model' is required"),
        (
            {
                "model": ("m.joblib", model_bytes(), "x"),
                "requirements": ("r.txt", b"--index-url http://evil/\n", "x"),
            },
            422,
            "requirements.txt",
        ),
        (
            {
                "model": ("m.joblib", model_bytes(), "x"),
                "requirements": ("r.txt", b"not a ^^ requirement\n", "x"),
            },
            422,
            "requirements.txt",
        ),
    ]
    for files, status, phrase in cases:
        response = await api.client.post(url, headers=user.headers, files=files)
        assert response.status_code == status, (files.keys(), response.text)
        assert phrase in str(response.json()["detail"]), response.text
    versions = await api.client.get(url, headers=user.headers)
    assert versions.json()["total"] == 0
    root: Path = app.state.settings.storage_dir
    assert not (root / "models" / user.sub).exists()


async def test_another_users_model_is_404(api: Api) -> None:
    alice, bob = await api.new_user(), await api.new_user()
    model = await _model(api, alice)
    response = await api.client.post(
        f"/api/models/{model['id']}/versions",
        headers=bob.headers,
        files={"model": ("model.joblib", model_bytes(), "application/octet-stream")},
    )
    assert response.status_code == 404
