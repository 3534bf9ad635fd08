"""A live PodML app: uvicorn on a loopback port inside the test's event loop, reconciler running.

Training jobs are real subprocesses that fetch their dataset and upload their model through signed
URLs, so they need the API reachable over HTTP (an in-process ASGI transport is not enough).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from podml.config import Settings
from podml.main import create_app
from tests.support.api import Api, ApiUser
from tests.support.kubelet import Kubelet
from tests.support.server import free_port

FINAL = {"succeeded", "failed", "cancelled"}


@dataclass
class Live:
    url: str
    app: FastAPI
    api: Api
    kubelet: Kubelet | None = None  # the test's cluster, when the executor is Kubernetes

    async def train(self, user: ApiUser, configuration_id: str, **body: Any) -> dict[str, Any]:
        response = await self.api.client.post(
            "/api/jobs", headers=user.headers, json={"configuration_id": configuration_id, **body}
        )
        assert response.status_code == 201, response.text
        job: dict[str, Any] = response.json()
        return job

    async def wait(self, user: ApiUser, job_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job: dict[str, Any] = (
                await self.api.client.get(f"/api/jobs/{job_id}", headers=user.headers)
            ).json()
            if job["status"] in FINAL:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s: {job}")
            await asyncio.sleep(0.1)

    async def wait_version(self, user: ApiUser, version_id: str, timeout: float = 120) -> dict[str, Any]:
        """The model version once it is no longer `building`."""
        deadline = time.monotonic() + timeout
        while True:
            version: dict[str, Any] = (
                await self.api.client.get(f"/api/model-versions/{version_id}", headers=user.headers)
            ).json()
            if version["status"] != "building":
                return version
            if time.monotonic() > deadline:
                raise AssertionError(f"version {version_id} still building after {timeout} s")
            await asyncio.sleep(0.1)

    async def wait_deployment(
        self, user: ApiUser, deployment_id: str, statuses: set[str], timeout: float = 60
    ) -> dict[str, Any]:
        """The deployment once its status is one of `statuses`."""
        deadline = time.monotonic() + timeout
        while True:
            response = await self.api.client.get(f"/api/deployments/{deployment_id}", headers=user.headers)
            assert response.status_code == 200, response.text
            deployment: dict[str, Any] = response.json()
            if deployment["status"] in statuses:
                return deployment
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"deployment still {deployment['status']} after {timeout} s: {deployment}"
                )
            await asyncio.sleep(0.1)

    async def configuration(
        self, user: ApiUser, csv: str, x_columns: list[str], y_column: str, **extra: Any
    ) -> dict[str, Any]:
        dataset = await self.api.dataset(user, csv)
        response = await self.api.client.post(
            "/api/configurations",
            headers=user.headers,
            json={
                "name": extra.pop("name", f"config-{uuid.uuid4().hex[:6]}"),
                "dataset_id": dataset["id"],
                "x_columns": x_columns,
                "y_column": y_column,
                **extra,
            },
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body


@asynccontextmanager
async def live_app(settings: Settings) -> AsyncIterator[Live]:
    """Serve `create_app(settings)` on `settings.port` until the block ends."""
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    url = f"http://127.0.0.1:{settings.port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            yield Live(url=url, app=app, api=Api(client))
    finally:
        server.should_exit = True
        await task


def live_port() -> int:
    return free_port()
