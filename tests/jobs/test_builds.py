"""Uploaded versions are built by a separate process: requirements installed, model loaded, ONNX
tried; `ready` with the serving path, or `failed` with the loader's own error."""

from __future__ import annotations

import asyncio
import importlib
import io
import sys
import time
from pathlib import Path
from typing import Any

import joblib
import pytest
from sklearn.linear_model import LinearRegression

from tests.support.api import ApiUser
from tests.support.live import Live
from tests.support.wheels import build_wheel

TINY = "podml_tiny_model"
TINY_SOURCE = "class Doubler:\n    def predict(self, rows):\n        return [2 * row[0] for row in rows]\n"


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheelhouse")
    build_wheel(folder, TINY, "1.0.0", TINY_SOURCE)
    return folder


def tiny_model_bytes(tmp_path: Path) -> bytes:
    """A pickle of `podml_tiny_model.Doubler()`: loading it needs a package the platform lacks."""
    package = tmp_path / "src" / TINY
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(TINY_SOURCE)
    sys.path.insert(0, str(package.parent))
    try:
        module = importlib.import_module(TINY)
        buffer = io.BytesIO()
        joblib.dump(module.Doubler(), buffer)
    finally:
        sys.path.remove(str(package.parent))
        sys.modules.pop(TINY, None)
    return buffer.getvalue()


async def upload(
    live: Live, user: ApiUser, name: str, model: bytes, requirements: str | None = None
) -> dict[str, Any]:
    created = await live.api.client.post("/api/models", headers=user.headers, json={"name": name})
    files: dict[str, Any] = {"model": ("model.joblib", model, "application/octet-stream")}
    if requirements is not None:
        files["requirements"] = ("requirements.txt", requirements.encode(), "text/plain")
    response = await live.api.client.post(
        f"/api/models/{created.json()['id']}/versions", headers=user.headers, files=files
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def settled(live: Live, user: ApiUser, version_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        version: dict[str, Any] = (
            await live.api.client.get(f"/api/model-versions/{version_id}", headers=user.headers)
        ).json()
        if version["status"] != "building":
            return version
        await asyncio.sleep(0.2)
    raise AssertionError("the version is still building")


async def test_a_plain_scikit_learn_upload_builds_to_onnx(live: Live) -> None:
    user = await live.api.new_user()
    buffer = io.BytesIO()
    joblib.dump(LinearRegression().fit([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]], [1.0, 3.0, 7.0]), buffer)
    version = await settled(live, user, (await upload(live, user, "plain", buffer.getvalue()))["id"])
    assert version["status"] == "ready", version["error"]
    assert version["serving_path"] == "onnx"
    assert version["signature"]["task"] == "regression"
    assert version["signature"]["onnx"]["ok"] is True


async def test_requirements_are_installed_once_and_reused(
    live: Live, wheelhouse: Path, tmp_path: Path
) -> None:
    settings = live.app.state.settings
    settings.requirements_pip_args = f"--no-index --find-links {wheelhouse}"
    user = await live.api.new_user()
    model = tiny_model_bytes(tmp_path)

    missing = await settled(live, user, (await upload(live, user, "no-reqs", model))["id"])
    assert missing["status"] == "failed"
    assert TINY in missing["error"]

    first = await settled(live, user, (await upload(live, user, "tiny", model, f"{TINY}==1.0.0\n"))["id"])
    assert first["status"] == "ready", first["error"]
    assert first["serving_path"] == "python"
    environments = sorted(p.name for p in settings.environments_dir.iterdir() if p.is_dir())
    second = await settled(
        live, user, (await upload(live, user, "tiny-again", model, f"{TINY}==1.0.0\n"))["id"]
    )
    assert second["status"] == "ready", second["error"]
    assert sorted(p.name for p in settings.environments_dir.iterdir() if p.is_dir()) == environments
    assert len(environments) == 1

    unknown = await settled(
        live, user, (await upload(live, user, "nowhere", model, "no-such-package-xyz==9\n"))["id"]
    )
    assert unknown["status"] == "failed"
    assert "no-such-package-xyz" in unknown["error"]


async def test_a_broken_pickle_fails_with_the_loaders_error(live: Live) -> None:
    user = await live.api.new_user()
    version = await settled(
        live, user, (await upload(live, user, "broken", b"\x80\x04garbage that is no pickle"))["id"]
    )
    assert version["status"] == "failed"
    assert version["error"]
