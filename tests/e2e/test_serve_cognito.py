"""Cognito mode end to end: moto's cognito-idp on loopback issues real RS256 ID tokens, and a real
`podml serve` verifies them against the pool's JWKS over HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.moto_server import DUMMY_AWS_ENV, MotoCognito
from tests.support.server import podml_serve


def test_cognito_id_tokens_sign_users_in(moto_cognito: MotoCognito, tmp_path: Path) -> None:
    pool = moto_cognito.create_pool()
    other_pool = moto_cognito.create_pool()
    ada = moto_cognito.create_user(pool, email="ada@example.com", attributes={"name": "Ada"})
    bob = moto_cognito.create_user(pool)
    stranger = moto_cognito.create_user(other_pool)
    env = {
        **moto_cognito.settings_env(pool),
        **DUMMY_AWS_ENV,
        "AWS_DEFAULT_REGION": pool.region,
        "PODML_SECRET_KEY": "cognito-e2e-secret-key-long-enough-123456",
    }
    with podml_serve(tmp_path / "data", env) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        config = http.get("/api/config").json()
        assert config["auth_mode"] == "cognito"
        assert config["cognito_user_pool_id"] == pool.pool_id
        assert config["cognito_client_id"] == pool.client_id

        ada_headers = {"Authorization": f"Bearer {moto_cognito.id_token(pool, ada)}"}
        me = http.get("/api/auth/me", headers=ada_headers)
        assert me.status_code == 200, me.text
        assert me.json()["sub"] == ada.sub
        assert me.json()["email"] == "ada@example.com"
        assert me.json()["display_name"] == "Ada"

        upload = http.post(
            "/api/datasets", headers=ada_headers, files={"file": ("d.csv", "a,b\n1,2\n3,4\n", "text/csv")}
        )
        assert upload.status_code == 201, upload.text
        bob_headers = {"Authorization": f"Bearer {moto_cognito.id_token(pool, bob)}"}
        assert http.get(f"/api/datasets/{upload.json()['id']}", headers=bob_headers).status_code == 404
        assert http.get("/api/datasets", headers=bob_headers).json()["total"] == 0
        assert http.get("/api/datasets", headers=ada_headers).json()["total"] == 1

        tokens = moto_cognito.tokens(pool, ada)
        refused = {
            "access token": tokens.access_token,
            "other app client": moto_cognito.id_token(
                pool, ada, client_id=moto_cognito.create_app_client(pool.pool_id)
            ),
            "other pool (same moto key)": moto_cognito.id_token(other_pool, stranger),
            "tampered": tokens.id_token[:-4] + ("AAAA" if not tokens.id_token.endswith("AAAA") else "BBBB"),
        }
        for case, token in refused.items():
            response = http.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, (case, response.text)

        # Built-in accounts are off in Cognito mode.
        assert (
            http.post("/api/auth/login", json={"email": "a@b.co", "password": "whatever1"}).status_code == 400
        )

        exists = http.get("/api/auth/email-exists", params={"email": "ada@example.com"})
        assert exists.status_code == 200, exists.text
        assert exists.json() == {"exists": True}
        assert http.get("/api/auth/email-exists", params={"email": "zed@example.com"}).json() == {
            "exists": False
        }
    assert tokens.id_token not in server.log()
