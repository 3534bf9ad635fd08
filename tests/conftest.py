"""Shared fixtures: one app per database back end (SQLite and PostgreSQL), and an API client.

Each back end gets its own freshly migrated database for the whole run; tests stay independent by
signing up new users (every resource is scoped by owner), so a database is never shared across runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from kubernetes_asyncio.client import ApiClient, Configuration

from podml.config import Settings
from podml.main import create_app
from tests.kubernetes.conftest import kubernetes_emulator_thread
from tests.support.api import Api
from tests.support.databases import database_url
from tests.support.kubelet import Kubelet
from tests.support.kubelet import running as kubelet_running
from tests.support.live import Live, live_app, live_port

# One moto server (Cognito: moto_server, moto_cognito, aws_dummy_credentials) and one rclone S3
# server (rclone_s3) for the whole run.
pytest_plugins = ["tests.support.moto_server", "tests.support.rclone", "tests.support.ministack"]

BACKENDS = ["sqlite", "postgresql"]
EXECUTORS = ["local", "kubernetes"]


def make_settings(data_dir: Path, db_url: str, **overrides: Any) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=data_dir,
        database_url=db_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        email_exists_per_minute=1000,
        # Only the `live` fixture runs a reconciler: two on one database would race.
        **{"run_reconciler": False, **overrides},
    )


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
async def db_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with database_url(backend, tmp_path_factory.mktemp(f"db-{backend}")) as url:
        yield url


@pytest.fixture(scope="session")
async def app(db_url: str, backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FastAPI]:
    settings = make_settings(tmp_path_factory.mktemp(f"data-{backend}"), db_url)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def api(client: httpx.AsyncClient) -> Api:
    return Api(client)


@pytest.fixture(scope="session", params=EXECUTORS)
def executor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The Kubernetes executor runs the tests marked `both_executors` (the reconciler's suite), on
    SQLite (the database is not what they test); every other test runs on the local executor."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        params = (
            item.callspec.params if isinstance(item, pytest.Function) and hasattr(item, "callspec") else {}
        )
        on_kubernetes = params.get("executor") == "kubernetes"
        wanted = item.get_closest_marker("both_executors") is not None and params.get("backend") == "sqlite"
        (dropped if on_kubernetes and not wanted else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
async def live(
    db_url: str, backend: str, executor: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Live]:
    """The real thing on a loopback port: reconciler, executor, model-server replicas, gateway.

    With the Kubernetes executor, the cluster is kmock and `tests.support.kubelet` plays its
    controllers and kubelet, running each pod's command as a process here."""
    data = tmp_path_factory.mktemp(f"live-{backend}-{executor}")
    overrides: dict[str, Any] = {
        "port": live_port(),
        "reconcile_interval_seconds": 0.5,
        "reconcile_busy_interval_seconds": 0.1,
        "max_concurrent_jobs": 4,
        "max_concurrent_jobs_per_user": 2,
        "scale_down_delay_seconds": 2.0,
        "run_reconciler": True,
    }
    if executor == "local":
        async with live_app(make_settings(data, db_url, **overrides)) as running:
            yield running
        return
    # The API server on a thread of its own, as a real one is: its latency is not the platform's.
    with kubernetes_emulator_thread() as (emulator, url):
        settings = make_settings(data, db_url, executor="kubernetes", kubernetes_api_url=url, **overrides)
        async with (
            ApiClient(Configuration(host=url)) as kube,
            kubelet_running(Kubelet(emulator, kube, data / "pods")) as kubelet,
            live_app(settings) as running,
        ):
            running.kubelet = kubelet
            yield running
