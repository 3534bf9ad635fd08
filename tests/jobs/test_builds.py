"""Uploaded versions are built by a separate process: requirements installed, model loaded, ONNX
tried; `ready` with the serving path, or `failed` with the loader's own error."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import joblib
import pytest
from sklearn.linear_model import LinearRegression

from tests.support.api import ApiUser
from tests.support.live import Live
from tests.support.wheels import TINY, tiny_model_bytes, tiny_wheelhouse

pytestmark = pytest.mark.both_executors  # the reconciler's suite: local and Kubernetes


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_wheelhouse(tmp_path_factory.mktemp("wheelhouse"))


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
    return await live.wait_version(user, version_id, timeout)


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
    local = live.kubelet is None  # a pod installs into its own home; locally one folder is shared
    environments = sorted(p.name for p in settings.environments_dir.iterdir() if p.is_dir()) if local else []
    second = await settled(
        live, user, (await upload(live, user, "tiny-again", model, f"{TINY}==1.0.0\n"))["id"]
    )
    assert second["status"] == "ready", second["error"]
    if local:
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
