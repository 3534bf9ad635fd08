"""Built-in accounts over HTTP: register, login, me, and the tokens that must be refused."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from podml.auth.security import TOKEN_AUDIENCE, TOKEN_ISSUER
from tests.support.api import Api

SECRET = "test-secret-key-that-is-long-enough-0123456789"


async def test_register_login_me(api: Api, client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/register",
        json={"email": "Ada.Lovelace@Example.com", "password": "analytical-engine", "display_name": "Ada"},
    )
    if response.status_code == 409:  # the SQLite and PostgreSQL runs share nothing, but reruns might
        pytest.fail("fresh database expected")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == "ada.lovelace@example.com"
    assert body["display_name"] == "Ada"
    assert body["role"] == "user"
    assert "password" not in json.dumps(body)
    assert "hash" not in json.dumps(body)

    login = await client.post(
        "/api/auth/login", json={"email": "ADA.LOVELACE@example.com", "password": "analytical-engine"}
    )
    assert login.status_code == 200
    token = login.json()
    assert token["token_type"] == "bearer"
    assert token["expires_in"] == 3600
    me = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert me.status_code == 200
    assert me.json() == {
        "sub": body["sub"],
        "email": "ada.lovelace@example.com",
        "display_name": "Ada",
        "role": "user",
    }


async def test_duplicate_email_is_409(api: Api, client: httpx.AsyncClient) -> None:
    user = await api.new_user()
    again = await client.post(
        "/api/auth/register", json={"email": user.email.upper(), "password": "another-password"}
    )
    assert again.status_code == 409
    assert "already exists" in again.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": "long-enough-pw"}, "email"),
        ({"email": "short@example.com", "password": "short"}, "password"),
        ({"password": "long-enough-pw"}, "email"),
    ],
)
async def test_bad_registration_is_422_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, str], field: str
) -> None:
    response = await client.post("/api/auth/register", json=body)
    assert response.status_code == 422
    assert any(field in error["loc"] for error in response.json()["detail"])


async def test_wrong_password_and_unknown_email_look_the_same(api: Api, client: httpx.AsyncClient) -> None:
    user = await api.new_user()
    wrong = await client.post("/api/auth/login", json={"email": user.email, "password": "wrong-password"})
    unknown = await client.post(
        "/api/auth/login", json={"email": "nobody@example.com", "password": "wrong-password"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "incorrect email or password"}


def _token(**claims: object) -> str:
    now = datetime.now(UTC)
    base: dict[str, object] = {
        "iss": TOKEN_ISSUER,
        "aud": TOKEN_AUDIENCE,
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "token_use": "access",
    }
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, SECRET, algorithm="HS256")


def _unsigned(claims: dict[str, object]) -> str:
    def b64(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


async def test_bad_tokens_are_401(api: Api, client: httpx.AsyncClient) -> None:
    user = await api.new_user()
    good = _token(sub=user.sub)
    assert (await client.get("/api/auth/me", headers={"Authorization": f"Bearer {good}"})).status_code == 200

    now = int(time.time())
    forged = jwt.encode(
        {
            "sub": user.sub,
            "iss": TOKEN_ISSUER,
            "aud": TOKEN_AUDIENCE,
            "iat": now,
            "exp": now + 300,
            "token_use": "access",
        },
        "a-different-secret-key-of-sufficient-length",
        algorithm="HS256",
    )
    cases = {
        "no header": None,
        "not bearer": f"Basic {base64.b64encode(b'a:b').decode()}",
        "empty bearer": "Bearer ",
        "garbage": "Bearer not.a.jwt",
        "forged": f"Bearer {forged}",
        "expired": f"Bearer {_token(sub=user.sub, exp=datetime.now(UTC) - timedelta(seconds=5))}",
        "wrong audience": f"Bearer {_token(sub=user.sub, aud='someone-else')}",
        "wrong issuer": f"Bearer {_token(sub=user.sub, iss='evil')}",
        "alg none": "Bearer "
        + _unsigned(
            {
                "sub": user.sub,
                "iss": TOKEN_ISSUER,
                "aud": TOKEN_AUDIENCE,
                "iat": now,
                "exp": now + 300,
                "token_use": "access",
            }
        ),
        "unknown user": f"Bearer {_token(sub='00000000-0000-0000-0000-000000000000')}",
    }
    for case, header in cases.items():
        headers = {"Authorization": header} if header is not None else {}
        response = await client.get("/api/auth/me", headers=headers)
        assert response.status_code == 401, case
        assert response.headers["www-authenticate"] == "Bearer", case


async def test_debug_sub_is_ignored_unless_allowed(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/auth/me", headers={"X-Debug-Sub": "someone"})
    assert response.status_code == 401


async def test_email_exists(api: Api, client: httpx.AsyncClient) -> None:
    user = await api.new_user()
    yes = await client.get("/api/auth/email-exists", params={"email": user.email.upper()})
    no = await client.get("/api/auth/email-exists", params={"email": "absent@example.com"})
    bad = await client.get("/api/auth/email-exists", params={"email": "no-at-sign"})
    assert yes.json() == {"exists": True}
    assert no.json() == {"exists": False}
    assert bad.status_code == 422


async def test_public_config(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/config")
    assert response.status_code == 200
    body = response.json()
    assert body["auth_mode"] == "local"
    assert body["allow_registration"] is True
    assert body["cognito_user_pool_id"] is None
