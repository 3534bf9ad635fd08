"""End to end against moto's cognito-idp server: real boto3, real HTTP, real RS256 tokens."""

from __future__ import annotations

import sys

import pytest
from botocore.exceptions import ClientError

from podml.auth.cognito import (
    CognitoJWTVerifier,
    CognitoService,
    CognitoServiceError,
    InvalidTokenError,
    quote_filter_value,
    service_from_settings,
    verifier_from_settings,
)
from podml.config import Settings
from tests.support import moto_server as moto_support
from tests.support.moto_server import CognitoPool, CognitoTestUser, MotoCognito, MotoServer, MotoServerError


@pytest.fixture(scope="module")
def pool(moto_cognito: MotoCognito) -> CognitoPool:
    return moto_cognito.create_pool()


@pytest.fixture(scope="module")
def user(moto_cognito: MotoCognito, pool: CognitoPool) -> CognitoTestUser:
    return moto_cognito.create_user(pool, email="ada.lovelace@example.com", attributes={"name": "Ada"})


def verifier_for(pool: CognitoPool) -> CognitoJWTVerifier:
    return CognitoJWTVerifier(issuer=pool.issuer, client_id=pool.client_id, jwks_url=pool.jwks_url)


def service_for(moto_cognito: MotoCognito, pool: CognitoPool) -> CognitoService:
    return CognitoService(
        region=moto_cognito.region, user_pool_id=pool.pool_id, endpoint_url=moto_cognito.endpoint_url
    )


async def rejected(verifier: CognitoJWTVerifier, token: str) -> str:
    with pytest.raises(InvalidTokenError) as info:
        await verifier.verify(token)
    return info.value.reason


def test_fixture_describes_the_pool(moto_cognito: MotoCognito, pool: CognitoPool) -> None:
    assert moto_cognito.endpoint_url.startswith("http://127.0.0.1:")
    assert pool.issuer == f"https://cognito-idp.{moto_cognito.region}.amazonaws.com/{pool.pool_id}"
    assert pool.jwks_url == f"{moto_cognito.endpoint_url}/{pool.pool_id}/.well-known/jwks.json"
    env = moto_cognito.settings_env(pool)
    assert env["PODML_COGNITO_JWKS_URL"] == pool.jwks_url


async def test_id_token_from_user_password_auth_is_accepted(
    moto_cognito: MotoCognito, pool: CognitoPool, user: CognitoTestUser
) -> None:
    verifier = verifier_for(pool)
    claims = await verifier.verify(moto_cognito.id_token(pool, user))
    assert claims["sub"] == user.sub
    assert claims["email"] == user.email
    assert claims["cognito:username"] == user.username
    assert claims["name"] == "Ada"
    assert (claims["iss"], claims["aud"], claims["token_use"]) == (pool.issuer, pool.client_id, "id")
    for _ in range(3):
        await verifier.verify(moto_cognito.id_token(pool, user))
    assert verifier.fetch_count == 1


async def test_access_token_is_rejected(
    moto_cognito: MotoCognito, pool: CognitoPool, user: CognitoTestUser
) -> None:
    access_token = moto_cognito.tokens(pool, user).access_token
    assert await rejected(verifier_for(pool), access_token) == "not an ID token"


async def test_token_for_another_app_client_is_rejected(
    moto_cognito: MotoCognito, pool: CognitoPool, user: CognitoTestUser
) -> None:
    other_client = moto_cognito.create_app_client(pool.pool_id)
    token = moto_cognito.id_token(pool, user, client_id=other_client)
    assert await rejected(verifier_for(pool), token) == "wrong audience"


async def test_token_from_another_pool_fails_on_issuer(moto_cognito: MotoCognito, pool: CognitoPool) -> None:
    # moto signs every pool's tokens with the same key (kid "dummy"): only `iss` tells them apart.
    other_pool = moto_cognito.create_pool()
    stranger = moto_cognito.create_user(other_pool)
    token = moto_cognito.id_token(other_pool, stranger)
    verifier = CognitoJWTVerifier(issuer=pool.issuer, client_id=other_pool.client_id, jwks_url=pool.jwks_url)
    assert await rejected(verifier, token) == "wrong issuer"


async def test_settings_build_a_working_verifier_and_service(
    moto_cognito: MotoCognito, pool: CognitoPool, user: CognitoTestUser, aws_dummy_credentials: dict[str, str]
) -> None:
    settings = Settings(
        _env_file=None,
        auth_mode="cognito",
        cognito_region=moto_cognito.region,
        cognito_user_pool_id=pool.pool_id,
        cognito_client_id=pool.client_id,
        cognito_jwks_url=pool.jwks_url,
        cognito_endpoint_url=moto_cognito.endpoint_url,
    )
    claims = await verifier_from_settings(settings).verify(moto_cognito.id_token(pool, user))
    assert claims["sub"] == user.sub
    assert await service_from_settings(settings).email_exists(user.email)


async def test_email_exists(
    moto_cognito: MotoCognito, pool: CognitoPool, user: CognitoTestUser, aws_dummy_credentials: dict[str, str]
) -> None:
    service = service_for(moto_cognito, pool)
    assert await service.email_exists(user.email) is True
    assert await service.email_exists(f"  {user.email} ") is True
    assert await service.email_exists("someone.else@example.com") is False
    assert await service.email_exists("ada.lovelace@example.co") is False
    assert await service.email_exists("") is False


@pytest.mark.parametrize(
    "email",
    [
        'ada"@example.com',
        'x" or email ^= "ada',
        'ada.lovelace@example.com" or username ^= "',
        "back\\slash@example.com",
        '\\"@example.com',
        "line\nbreak@example.com",
        "a" * 500 + "@example.com",
    ],
)
async def test_hostile_emails_do_not_break_the_filter(
    moto_cognito: MotoCognito,
    pool: CognitoPool,
    user: CognitoTestUser,
    aws_dummy_credentials: dict[str, str],
    email: str,
) -> None:
    assert await service_for(moto_cognito, pool).email_exists(email) is False


def test_filter_values_are_quoted_and_escaped() -> None:
    assert quote_filter_value("ada@example.com") == '"ada@example.com"'
    assert quote_filter_value('a"b') == '"a\\"b"'
    assert quote_filter_value("a\\b") == '"a\\\\b"'
    assert quote_filter_value('\\"') == '"\\\\\\""'
    with pytest.raises(ValueError, match="control"):
        quote_filter_value("a\nb")


async def test_get_user(
    moto_cognito: MotoCognito, pool: CognitoPool, user: CognitoTestUser, aws_dummy_credentials: dict[str, str]
) -> None:
    service = service_for(moto_cognito, pool)
    found = await service.get_user(user.username)
    assert found is not None
    assert (found.username, found.sub, found.email) == (user.username, user.sub, user.email)
    assert found.enabled
    assert found.status == "CONFIRMED"
    assert await service.get_user("nobody-here") is None


async def test_unknown_pool_is_a_service_error(
    moto_cognito: MotoCognito, aws_dummy_credentials: dict[str, str]
) -> None:
    service = CognitoService(
        region=moto_cognito.region, user_pool_id="us-east-1_Missing", endpoint_url=moto_cognito.endpoint_url
    )
    with pytest.raises(CognitoServiceError) as info:
        await service.email_exists("ada@example.com")
    assert info.value.status_code == 503


async def test_stopped_server_is_gone_and_cognito_unreachable_is_a_service_error(
    aws_dummy_credentials: dict[str, str],
) -> None:
    with MotoServer() as server:
        endpoint, process = server.endpoint_url, server.process
        assert process is not None
        assert "Running on" in server.output()
        private = MotoCognito(server)
        pool_id = private.create_pool().pool_id
        server.reset()
        with pytest.raises(ClientError, match="ResourceNotFound"):
            private.client().describe_user_pool(UserPoolId=pool_id)
    assert process.poll() is not None
    assert server.port is None
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.endpoint_url
    service = CognitoService(region="us-east-1", user_pool_id="us-east-1_Gone", endpoint_url=endpoint)
    with pytest.raises(CognitoServiceError):
        await service.email_exists("ada@example.com")


def test_moto_server_start_failure_reports_its_output(monkeypatch: pytest.MonkeyPatch) -> None:
    script = "import sys; sys.stderr.write('boom: cannot start'); sys.exit(3)"
    monkeypatch.setattr(moto_support, "_moto_server_command", lambda: [sys.executable, "-c", script])
    server = MotoServer(startup_timeout=10)
    with pytest.raises(MotoServerError, match=r"(?s)exited with code 3.*boom: cannot start"):
        server.start()
    assert server.port is None
