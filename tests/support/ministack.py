"""A Cognito emulator for Amplify in a real browser: `ministack` (PyPI, 1.5 or later) on a free
loopback port. Unlike moto it checks SRP proofs (1.4 did not: any password passed), so a wrong
password is refused as by Cognito; its confirmation code is always 123456 (it sends no email).

One server per test session; if it does not come up the session fails with its log, never skips."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from tests.support.server import free_port

CONFIRMATION_CODE = "123456"
REGION = "us-east-1"


@dataclass(frozen=True)
class Pool:
    pool_id: str
    client_id: str


@dataclass(frozen=True)
class Ministack:
    endpoint: str

    def client(self) -> Any:
        return boto3.client(
            "cognito-idp",
            endpoint_url=self.endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name=REGION,
        )

    def create_pool(self) -> Pool:
        cognito = self.client()
        pool = cognito.create_user_pool(
            PoolName=f"podml-{uuid.uuid4().hex[:8]}",
            AutoVerifiedAttributes=["email"],
            UsernameAttributes=["email"],
            Policies={
                "PasswordPolicy": {"MinimumLength": 8, "RequireSymbols": False, "RequireUppercase": False}
            },
        )["UserPool"]
        client = cognito.create_user_pool_client(
            UserPoolId=pool["Id"],
            ClientName="web",
            GenerateSecret=False,
            ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]
        return Pool(pool["Id"], client["ClientId"])

    def settings_env(self, pool: Pool) -> dict[str, str]:
        """`podml serve` in Cognito mode against this pool (JWKS and the browser's endpoint here)."""
        return {
            "PODML_AUTH_MODE": "cognito",
            "PODML_COGNITO_REGION": REGION,
            "PODML_COGNITO_USER_POOL_ID": pool.pool_id,
            "PODML_COGNITO_CLIENT_ID": pool.client_id,
            "PODML_COGNITO_ENDPOINT_URL": self.endpoint,
            "PODML_COGNITO_JWKS_URL": f"{self.endpoint}/{pool.pool_id}/.well-known/jwks.json",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": REGION,
        }


@pytest.fixture(scope="session")
def ministack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ministack]:
    port = free_port()
    log_path: Path = tmp_path_factory.mktemp("ministack") / "ministack.log"
    env = {
        **os.environ,
        "GATEWAY_PORT": str(port),
        "SERVICES": "cognito-idp",
        "MINISTACK_HOST": "127.0.0.1",
        "BIND_HOST": "127.0.0.1",
        "IOT_MTLS_ENABLED": "0",
        "LOG_LEVEL": "WARNING",
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "ministack"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"ministack exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                if httpx.get(f"{endpoint}/_ministack/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"ministack did not start:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield Ministack(endpoint)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
