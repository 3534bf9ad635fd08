"""`create_app()`: settings, database, storage, auth and routers, with migrations on start-up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from starlette.types import Receive, Scope, Send

from podml import __version__
from podml.api import api_router
from podml.config import Settings, get_settings
from podml.database import create_engine, create_sessionmaker
from podml.errors import install_error_handlers
from podml.executors.factory import build_executor, build_serving, forget_kube_api, kube_api
from podml.executors.reconciler import Reconciler
from podml.gateway.fastpath import PredictFastPath
from podml.gateway.gateway import Gateway
from podml.migrations import upgrade_to_head
from podml.observability import MetricsMiddleware
from podml.quotas import service as quota_service
from podml.storage import StorageError, build_storage

log = logging.getLogger(__name__)


def _operation_id(route: APIRoute) -> str:
    """Stable operation ids (`datasets-list_datasets`) for the generated TypeScript client."""
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    settings = settings or get_settings()
    settings.ensure_secret_key()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.tmp_dir.mkdir(parents=True, exist_ok=True)
        if migrate:
            await upgrade_to_head(app.state.engine)
        try:
            await app.state.storage.ping()
        except StorageError as exc:
            log.error("storage is not ready (the API starts, /readyz reports it): %s", exc)
        tasks = [
            asyncio.create_task(app.state.gateway.run_stats()),
            asyncio.create_task(app.state.serving.upkeep()),
        ]
        if settings.run_reconciler:
            try:
                await app.state.executor.prepare()
            except Exception as exc:
                log.warning("executor warm-up failed; jobs start cold: %s", exc)
            tasks.append(asyncio.create_task(app.state.reconciler.run()))
        try:
            yield
        finally:
            for task in reversed(tasks):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await app.state.gateway.close()
            await app.state.serving.close()
            await app.state.executor.close()
            forget_kube_api(settings)
            await app.state.engine.dispose()

    app = FastAPI(
        title="PodML",
        version=__version__,
        description="From a CSV to a live, autoscaled prediction endpoint.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
    )
    app.state.settings = settings
    app.state.engine = create_engine(settings.database_url, echo=settings.database_echo)
    app.state.sessionmaker = create_sessionmaker(app.state.engine)
    app.state.storage = build_storage(settings)
    app.state.executor = build_executor(settings)
    app.state.serving = build_serving(settings)
    app.state.quota_cluster = None
    if settings.executor == "kubernetes":
        from podml.quotas.kubernetes import KubernetesQuotas

        # Users' namespaces get each user's own quota; the admin routes patch it when it changes.
        kube = kube_api(settings)
        kube.quota_lookup = quota_service.lookup(app.state.sessionmaker, settings)
        app.state.quota_cluster = KubernetesQuotas(kube)
    app.state.token_verifier = None
    app.state.email_directory = None
    if settings.auth_mode == "cognito":
        from podml.auth.cognito import service_from_settings, verifier_from_settings

        app.state.token_verifier = verifier_from_settings(settings)
        app.state.email_directory = service_from_settings(settings)
    app.state.gateway = Gateway(app.state.serving, app.state.sessionmaker, settings, app.state.token_verifier)
    app.state.reconciler = Reconciler(
        engine=app.state.engine,
        sessionmaker=app.state.sessionmaker,
        storage=app.state.storage,
        executor=app.state.executor,
        settings=settings,
        serving=app.state.serving,
        on_deleted=app.state.gateway.deleted,
    )
    app.state.rate_limiter = MovingWindowRateLimiter(storage_from_string(settings.rate_limit_storage_uri))

    install_error_handlers(app)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(PredictFastPath, gateway=lambda: app.state.gateway)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type", "X-Debug-Sub"],
        )
    app.include_router(api_router)

    mount_web(app, settings)
    return app


class WebFiles(StaticFiles):
    """The UI's static export; a path under /api or /v2 that no route matched stays a JSON 404."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(("/api/", "/v2/")):
            await JSONResponse({"detail": f"no route {path}"}, status_code=404)(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def mount_web(app: FastAPI, settings: Settings) -> None:
    """The web UI at `/` when its static export exists (else `/` leads to the API docs)."""
    if (settings.web_dir / "index.html").is_file():
        app.mount("/", WebFiles(directory=settings.web_dir, html=True), name="web")
        return

    @app.get("/", include_in_schema=False)
    async def index() -> RedirectResponse:
        return RedirectResponse("/docs")
