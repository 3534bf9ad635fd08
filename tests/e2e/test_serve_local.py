"""The issue's acceptance walk against a running `podml serve`, on SQLite and on PostgreSQL."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jwt
import pytest

from tests.support.databases import database_url
from tests.support.server import RunningServer, podml_command, podml_serve

SECRET = "e2e-secret-key-which-is-definitely-long-enough"
CSV = "x,colour,y\n1,red,5\n2,blue,8\n3,red,11\n4,blue,14\n5,red,17\n"


@pytest.fixture(params=["sqlite", "postgresql"])
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with database_url(request.param, tmp_path) as url:
        env = {"PODML_DATABASE_URL": url, "PODML_SECRET_KEY": SECRET}
        with podml_serve(tmp_path / "data", env) as running:
            yield running


def _register(http: httpx.Client, email: str) -> dict[str, str]:
    assert (
        http.post("/api/auth/register", json={"email": email, "password": "pass-word-1"}).status_code == 201
    )
    token = http.post("/api/auth/login", json={"email": email, "password": "pass-word-1"}).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def _objects(server: RunningServer) -> list[Path]:
    root = server.log_path.parent / "objects"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_two_users_walkthrough(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        assert http.get("/readyz").status_code == 200
        docs = http.get("/docs")
        assert docs.status_code == 200
        assert "swagger" in docs.text.lower()
        assert "/api/datasets" in http.get("/openapi.json").json()["paths"]

        alice = _register(http, "alice@example.com")
        bob = _register(http, "bob@example.com")

        upload = http.post("/api/datasets", headers=alice, files={"file": ("toy.csv", CSV, "text/csv")})
        assert upload.status_code == 201, upload.text
        dataset = upload.json()
        assert [(c["name"], c["dtype"]) for c in dataset["columns"]] == [
            ("x", "numeric"),
            ("colour", "categorical"),
            ("y", "numeric"),
        ]
        config = http.post(
            "/api/configurations",
            headers=alice,
            json={"name": "toy", "dataset_id": dataset["id"], "x_columns": ["x", "colour"], "y_column": "y"},
        )
        assert config.status_code == 201, config.text

        for path in (f"/api/datasets/{dataset['id']}", f"/api/configurations/{config.json()['id']}"):
            assert http.get(path, headers=bob).status_code == 404
            assert http.get(path).status_code == 401
        assert http.get("/api/datasets", headers=bob).json() == {"items": [], "total": 0}
        assert http.get("/api/configurations", headers=bob).json() == {"items": [], "total": 0}
        assert http.get("/api/datasets").status_code == 401

        sub = http.get("/api/auth/me", headers=alice).json()["sub"]
        now = int(time.time())
        claims = {
            "sub": sub,
            "iss": "podml",
            "aud": "podml-api",
            "iat": now,
            "exp": now + 60,
            "token_use": "access",
        }
        unsigned_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
        unsigned_body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        bad_tokens = {
            "forged": jwt.encode(claims, "not-the-server-secret-but-long-enough", algorithm="HS256"),
            "expired": jwt.encode({**claims, "exp": now - 10}, SECRET, algorithm="HS256"),
            "wrong audience": jwt.encode({**claims, "aud": "other"}, SECRET, algorithm="HS256"),
            "alg none": f"{unsigned_header}.{unsigned_body}.",
        }
        good = jwt.encode(claims, SECRET, algorithm="HS256")
        assert http.get("/api/auth/me", headers={"Authorization": f"Bearer {good}"}).status_code == 200
        for case, token in bad_tokens.items():
            response = http.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, case

        objects = len(_objects(server))
        ragged = http.post(
            "/api/datasets", headers=alice, files={"file": ("bad.csv", "a,b\n1,2\n3\n", "text/csv")}
        )
        assert ragged.status_code == 422
        assert "line 3" in ragged.json()["detail"]
        assert http.get("/api/datasets", headers=alice).json()["total"] == 1
        assert len(_objects(server)) == objects
        metrics = http.get("/metrics").text
        assert 'podml_http_requests_total{method="POST",route="/api/datasets",status="422"}' in metrics

    assert SECRET not in server.log()
    assert "pass-word-1" not in server.log()


def test_admin_bootstrap_with_the_cli(server: RunningServer) -> None:
    env = {**server.env, "PODML_NEW_USER_PASSWORD": "admin-pass-123"}
    result = subprocess.run(
        podml_command("user", "create", "root@example.com", "--admin"),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    again = subprocess.run(
        podml_command("user", "create", "root@example.com"),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 1
    assert "already exists" in again.stderr
    with httpx.Client(base_url=server.url, timeout=30) as http:
        token = http.post("/api/auth/login", json={"email": "root@example.com", "password": "admin-pass-123"})
        me = http.get("/api/auth/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
        assert me.json()["role"] == "admin"
