"""Auth test support: RSA test keys, a token factory, and a real JWKS server on loopback."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from podml.auth.cognito_verifier import CognitoJWTVerifier

ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool"
CLIENT_ID = "test-app-client-id"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls, kid: str) -> SigningKey:
        return cls(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def jwk(self, **extra: Any) -> dict[str, Any]:
        """The public JWK as Cognito publishes it (kid, alg RS256, use sig)."""
        data: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key()))
        return {**data, "kid": self.kid, "alg": "RS256", "use": "sig", **extra}

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenFactory:
    """Mints Cognito-shaped ID tokens; every claim can be overridden or (with None) removed."""

    key: SigningKey
    issuer: str = ISSUER
    client_id: str = CLIENT_ID

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": "8f1c2a4e-0000-4000-8000-000000000001",
            "aud": self.client_id,
            "iss": self.issuer,
            "token_use": "id",
            "email": "ada@example.com",
            "cognito:username": "ada",
            "auth_time": now,
            "iat": now,
            "exp": now + 3600,
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def sign(
        self,
        claims: dict[str, Any] | None = None,
        *,
        key: SigningKey | None = None,
        algorithm: str = "RS256",
        headers: dict[str, Any] | None = None,
    ) -> str:
        key = key or self.key
        return jwt.encode(
            claims if claims is not None else self.claims(),
            key.private_key,
            algorithm=algorithm,
            headers={"kid": key.kid} if headers is None else headers,
        )

    def raw(self, header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
        """A hand-assembled JWS, for tokens PyJWT refuses to produce."""
        return ".".join(
            [b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode()), b64url(signature)]
        )


@dataclass
class JWKSServer:
    """http.server in a thread serving a JWKS at /jwks.json; counts requests; can fail on demand."""

    keys: list[Any]  # JWK dicts, or anything else a broken JWKS might hold
    status: int = 200
    body: bytes | None = None  # served as-is instead of the JWKS when set
    delay: float = 0.0
    hits: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/jwks.json"

    def publish(self, *keys: SigningKey) -> None:
        self.keys = [key.jwk() for key in keys]

    def start(self) -> JWKSServer:
        state = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with state._lock:
                    state.hits += 1
                if state.delay:
                    time.sleep(state.delay)
                if self.path != "/jwks.json":
                    self.send_error(404)
                    return
                body = state.body if state.body is not None else json.dumps({"keys": state.keys}).encode()
                self.send_response(state.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self._httpd.serve_forever, args=(0.02,), name="jwks-server", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    return SigningKey.generate("kid-1")


@pytest.fixture(scope="session")
def rotated_key() -> SigningKey:
    return SigningKey.generate("kid-2")


@pytest.fixture(scope="session")
def forger_key() -> SigningKey:
    """Another RSA key claiming the published kid."""
    return SigningKey.generate("kid-1")


@pytest.fixture
def tokens(signing_key: SigningKey) -> TokenFactory:
    return TokenFactory(signing_key)


@pytest.fixture
def jwks_server(signing_key: SigningKey) -> Iterator[JWKSServer]:
    server = JWKSServer(keys=[signing_key.jwk()]).start()
    yield server
    server.stop()


MakeVerifier = Callable[..., CognitoJWTVerifier]


@pytest.fixture
def make_verifier(jwks_server: JWKSServer) -> MakeVerifier:
    """A verifier for ISSUER/CLIENT_ID reading `jwks_server`; a short refetch interval unless given."""

    def make(**overrides: Any) -> CognitoJWTVerifier:
        options: dict[str, Any] = {
            "issuer": ISSUER,
            "client_id": CLIENT_ID,
            "jwks_url": jwks_server.url,
            "min_refetch_interval": 0.3,
            "http_timeout": 2.0,
        }
        options.update(overrides)
        return CognitoJWTVerifier(**options)

    return make
