"""A real `moto_server` (moto[server]) on a loopback port, and Cognito helpers on top of it.

Use from a conftest (fixtures are found once imported there)::

    from tests.support.moto_server import aws_dummy_credentials, moto_cognito, moto_server  # noqa: F401

    def test_login(moto_cognito: MotoCognito) -> None:
        pool = moto_cognito.create_pool()             # pool + app client with USER_PASSWORD_AUTH
        user = moto_cognito.create_user(pool)         # sign_up + admin_confirm_sign_up
        token = moto_cognito.id_token(pool, user)     # initiate_auth USER_PASSWORD_AUTH -> IdToken

`pool.issuer`, `pool.jwks_url`, `pool.client_id` and `moto_cognito.endpoint_url` are what PodML's
`PODML_COGNITO_*` settings want. One server serves the whole session; every test makes its own pool,
so tests never share users. moto uses a single signing key (kid "dummy") for every pool and never
checks SRP passwords (TESTING.md). The process is started with dummy AWS credentials in its own
environment; clients in this process get them explicitly (`client()`), or through the environment
with the function-scoped `aws_dummy_credentials` fixture (for code using boto3's default chain).
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_cognito_idp.type_defs import AttributeTypeTypeDef

DUMMY_AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
DEFAULT_REGION = "us-east-1"
DEFAULT_PASSWORD = "Correct-Horse-9-battery"
READ_ATTRIBUTES = ("email", "email_verified", "name", "preferred_username")


# Straight to loopback, whatever http_proxy says.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class MotoServerError(RuntimeError):
    """moto_server did not start; the message carries its output."""


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _moto_server_command() -> list[str]:
    script = Path(sys.executable).with_name("moto_server")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "moto.server"]


class MotoServer:
    """One `moto_server` subprocess on 127.0.0.1. A context manager; `start()`/`stop()` also work."""

    def __init__(self, *, host: str = "127.0.0.1", startup_timeout: float = 30.0, attempts: int = 3) -> None:
        self.host = host
        self.startup_timeout = startup_timeout
        self.attempts = attempts
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None

    @property
    def endpoint_url(self) -> str:
        if self.port is None:
            raise RuntimeError("moto_server is not running")
        return f"http://{self.host}:{self.port}"

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self._process

    def start(self) -> None:
        if self._process is not None:
            raise RuntimeError("moto_server is already running")
        failures: list[str] = []
        for _ in range(self.attempts):  # a port taken between probe and bind: try another one
            try:
                self._start_once()
                return
            except MotoServerError as exc:
                failures.append(str(exc))
                if "Address already in use" not in str(exc):
                    break
        raise MotoServerError("\n\n".join(failures))

    def _start_once(self) -> None:
        port = _free_port(self.host)
        fd, log_name = tempfile.mkstemp(prefix="moto_server-", suffix=".log")
        self._log_path = Path(log_name)
        env = {**os.environ, **DUMMY_AWS_ENV, "MOTO_PORT": str(port)}
        with os.fdopen(fd, "wb") as log:  # a file, not a pipe: werkzeug logs every request
            self._process = subprocess.Popen(
                [*_moto_server_command(), "-H", self.host, "-p", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self.port = port
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code, output = self._process.returncode, self.output()
                self._process = None
                self._cleanup()
                raise MotoServerError(f"moto_server exited with code {code} on port {port}:\n{output}")
            if self._answers():
                return
            time.sleep(0.1)
        output = self.output()
        self.stop()
        raise MotoServerError(f"moto_server did not answer within {self.startup_timeout}s:\n{output}")

    def _answers(self) -> bool:
        try:
            with _OPENER.open(f"{self.endpoint_url}/moto-api/", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def output(self) -> str:
        """What moto_server wrote to stdout/stderr so far."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_text(errors="replace")

    def reset(self) -> None:
        """Forget every resource in every backend (affects all users of this server)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")  # noqa: S310
        with _OPENER.open(request, timeout=10):
            pass

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self._cleanup()

    def _cleanup(self) -> None:
        self.port = None
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@dataclass(frozen=True)
class CognitoPool:
    """A user pool and one app client (no secret; USER_PASSWORD_AUTH and refresh enabled)."""

    region: str
    pool_id: str
    client_id: str
    issuer: str
    jwks_url: str


@dataclass(frozen=True)
class CognitoTestUser:
    username: str
    email: str
    password: str
    sub: str


@dataclass(frozen=True)
class CognitoTokens:
    id_token: str
    access_token: str
    refresh_token: str


class MotoCognito:
    """Cognito helpers bound to a running `MotoServer` (synchronous boto3 over real HTTP)."""

    def __init__(self, server: MotoServer, region: str = DEFAULT_REGION) -> None:
        self.server = server
        self.region = region
        self._client: CognitoIdentityProviderClient | None = None

    @property
    def endpoint_url(self) -> str:
        return self.server.endpoint_url

    def client(self) -> CognitoIdentityProviderClient:
        """A cognito-idp client for the emulator, with explicit dummy credentials."""
        if self._client is None:
            self._client = boto3.session.Session().client(
                "cognito-idp",
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                aws_access_key_id=DUMMY_AWS_ENV["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=DUMMY_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            )
        return self._client

    def issuer(self, pool_id: str) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{pool_id}"

    def jwks_url(self, pool_id: str) -> str:
        return f"{self.endpoint_url}/{pool_id}/.well-known/jwks.json"

    def create_pool(self, name: str | None = None) -> CognitoPool:
        """A new pool (email as an attribute, auto-verified) with one app client."""
        response = self.client().create_user_pool(
            PoolName=name or f"podml-test-{secrets.token_hex(4)}",
            AutoVerifiedAttributes=["email"],
            Schema=[{"Name": "email", "AttributeDataType": "String", "Required": True, "Mutable": True}],
        )
        pool_id = response["UserPool"]["Id"]
        return CognitoPool(
            region=self.region,
            pool_id=pool_id,
            client_id=self.create_app_client(pool_id),
            issuer=self.issuer(pool_id),
            jwks_url=self.jwks_url(pool_id),
        )

    def create_app_client(
        self, pool_id: str, name: str | None = None, read_attributes: Sequence[str] = READ_ATTRIBUTES
    ) -> str:
        """Another app client of `pool_id` (public, USER_PASSWORD_AUTH); returns its client id.

        moto puts only the client's `ReadAttributes` into ID tokens (real Cognito defaults to all).
        """
        response = self.client().create_user_pool_client(
            UserPoolId=pool_id,
            ClientName=name or f"podml-web-{secrets.token_hex(4)}",
            GenerateSecret=False,
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            ReadAttributes=list(read_attributes),
        )
        return response["UserPoolClient"]["ClientId"]

    def create_user(
        self,
        pool: CognitoPool,
        email: str | None = None,
        password: str = DEFAULT_PASSWORD,
        *,
        username: str | None = None,
        attributes: dict[str, str] | None = None,
    ) -> CognitoTestUser:
        """sign_up + admin_confirm_sign_up: a confirmed user who can log in with `password`."""
        email = email or f"user-{secrets.token_hex(4)}@example.com"
        username = username or f"user-{secrets.token_hex(6)}"
        user_attributes: list[AttributeTypeTypeDef] = [{"Name": "email", "Value": email}]
        user_attributes += [{"Name": k, "Value": v} for k, v in (attributes or {}).items()]
        response = self.client().sign_up(
            ClientId=pool.client_id, Username=username, Password=password, UserAttributes=user_attributes
        )
        self.client().admin_confirm_sign_up(UserPoolId=pool.pool_id, Username=username)
        return CognitoTestUser(username=username, email=email, password=password, sub=response["UserSub"])

    def tokens(self, pool: CognitoPool, user: CognitoTestUser, client_id: str | None = None) -> CognitoTokens:
        """initiate_auth USER_PASSWORD_AUTH through `client_id` (default: the pool's client)."""
        response = self.client().initiate_auth(
            ClientId=client_id or pool.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": user.username, "PASSWORD": user.password},
        )
        result = response["AuthenticationResult"]
        return CognitoTokens(
            id_token=result["IdToken"],
            access_token=result["AccessToken"],
            refresh_token=result["RefreshToken"],
        )

    def id_token(self, pool: CognitoPool, user: CognitoTestUser, client_id: str | None = None) -> str:
        return self.tokens(pool, user, client_id).id_token

    def settings_env(self, pool: CognitoPool) -> dict[str, str]:
        """`PODML_*` variables pointing the platform at this pool (for API end-to-end tests)."""
        return {
            "PODML_AUTH_MODE": "cognito",
            "PODML_COGNITO_REGION": self.region,
            "PODML_COGNITO_USER_POOL_ID": pool.pool_id,
            "PODML_COGNITO_CLIENT_ID": pool.client_id,
            "PODML_COGNITO_JWKS_URL": pool.jwks_url,
            "PODML_COGNITO_ENDPOINT_URL": self.endpoint_url,
        }


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """A moto_server for the whole session; a failure to start fails the test with its output."""
    server = MotoServer()
    try:
        server.start()
    except MotoServerError as exc:
        pytest.fail(f"could not start moto_server: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_cognito(moto_server: MotoServer) -> MotoCognito:
    return MotoCognito(moto_server)


@pytest.fixture
def aws_dummy_credentials(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Dummy AWS credentials in the environment, so boto3's default chain never reaches real AWS."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in DUMMY_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    return dict(DUMMY_AWS_ENV)
