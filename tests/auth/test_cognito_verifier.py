"""CognitoJWTVerifier against test RSA keys and a real JWKS server on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import inspect
import logging
import time
from typing import Any

import pytest

from podml.auth.cognito_verifier import CognitoJWTVerifier, InvalidTokenError, JWKSUnavailableError
from podml.errors import ServiceUnavailable, Unauthorized
from tests.auth.conftest import (
    CLIENT_ID,
    ISSUER,
    JWKSServer,
    MakeVerifier,
    SigningKey,
    TokenFactory,
    b64url,
)

INTERVAL = 0.3  # make_verifier's min_refetch_interval


async def rejected(verifier: CognitoJWTVerifier, token: str) -> str:
    with pytest.raises(InvalidTokenError) as info:
        await verifier.verify(token)
    return info.value.reason


async def test_valid_id_token_is_accepted(make_verifier: MakeVerifier, tokens: TokenFactory) -> None:
    claims = await make_verifier().verify(tokens.sign())
    assert claims["sub"] == "8f1c2a4e-0000-4000-8000-000000000001"
    assert claims["email"] == "ada@example.com"
    assert (claims["iss"], claims["aud"], claims["token_use"]) == (ISSUER, CLIENT_ID, "id")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": int(time.time()) - 60, "iat": int(time.time()) - 3660}, "token expired"),
        ({"aud": "some-other-client"}, "wrong audience"),
        ({"aud": [CLIENT_ID, "another"]}, "wrong audience"),
        ({"iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_OtherPool"}, "wrong issuer"),
        ({"iss": ISSUER + "/"}, "wrong issuer"),
        ({"token_use": "access", "aud": None, "client_id": CLIENT_ID}, "not an ID token"),
        ({"token_use": "access"}, "not an ID token"),
        ({"token_use": None}, "missing claim token_use"),
        ({"exp": None}, "missing claim exp"),
        ({"iat": None}, "missing claim iat"),
        ({"sub": None}, "missing claim sub"),
        ({"sub": ""}, "missing claim sub"),
        ({"aud": None}, "missing claim aud"),
        ({"iat": int(time.time()) + 600}, "token not yet valid"),
    ],
    ids=lambda value: value if isinstance(value, str) else "-".join(value),
)
async def test_bad_claims_are_rejected(
    make_verifier: MakeVerifier, tokens: TokenFactory, overrides: dict[str, Any], reason: str
) -> None:
    assert await rejected(make_verifier(), tokens.sign(tokens.claims(**overrides))) == reason


async def test_leeway_tolerates_small_clock_skew(make_verifier: MakeVerifier, tokens: TokenFactory) -> None:
    token = tokens.sign(tokens.claims(exp=int(time.time()) - 5))
    assert await rejected(make_verifier(), token) == "token expired"
    assert (await make_verifier(leeway=30).verify(token))["token_use"] == "id"


async def test_forged_signature_with_the_published_kid_is_rejected(
    make_verifier: MakeVerifier, tokens: TokenFactory, forger_key: SigningKey
) -> None:
    assert await rejected(make_verifier(), tokens.sign(key=forger_key)) == "bad signature"


async def test_tampered_payload_is_rejected(make_verifier: MakeVerifier, tokens: TokenFactory) -> None:
    header, _, signature = tokens.sign().split(".")
    other_payload = tokens.sign(tokens.claims(sub="someone-else")).split(".")[1]
    assert await rejected(make_verifier(), f"{header}.{other_payload}.{signature}") == "bad signature"


async def test_alg_none_is_rejected(
    make_verifier: MakeVerifier, tokens: TokenFactory, signing_key: SigningKey
) -> None:
    for alg in ("none", "None", "NONE"):
        token = tokens.raw({"alg": alg, "typ": "JWT", "kid": signing_key.kid}, tokens.claims())
        assert await rejected(make_verifier(), token) == "unsupported algorithm"
    no_alg = tokens.raw({"kid": signing_key.kid}, tokens.claims())
    assert await rejected(make_verifier(), no_alg) == "unsupported algorithm"


async def test_hs256_signed_with_the_public_key_is_rejected(
    make_verifier: MakeVerifier, tokens: TokenFactory, signing_key: SigningKey
) -> None:
    header = tokens.raw({"alg": "HS256", "typ": "JWT", "kid": signing_key.kid}, tokens.claims())
    signing_input = header.rsplit(".", 1)[0]
    signature = hmac.new(signing_key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    token = tokens.raw({"alg": "HS256", "typ": "JWT", "kid": signing_key.kid}, tokens.claims(), signature)
    assert await rejected(make_verifier(), token) == "unsupported algorithm"


async def test_other_rsa_algorithms_are_rejected(make_verifier: MakeVerifier, tokens: TokenFactory) -> None:
    for algorithm in ("RS512", "PS256"):
        assert await rejected(make_verifier(), tokens.sign(algorithm=algorithm)) == "unsupported algorithm"


async def test_missing_kid_is_rejected(make_verifier: MakeVerifier, tokens: TokenFactory) -> None:
    assert await rejected(make_verifier(), tokens.sign(headers={})) == "missing key id"


async def test_unknown_kid_is_rejected(
    make_verifier: MakeVerifier, tokens: TokenFactory, rotated_key: SigningKey
) -> None:
    assert await rejected(make_verifier(), tokens.sign(key=rotated_key)) == "unknown signing key"


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c", "x" * 20000, "e30.e30.", "🙂.🙂.🙂"])
async def test_malformed_tokens_are_rejected(make_verifier: MakeVerifier, token: str) -> None:
    assert await rejected(make_verifier(), token) in {"malformed token", "unsupported algorithm"}


async def test_keys_not_for_rs256_signing_are_ignored(
    make_verifier: MakeVerifier, tokens: TokenFactory, jwks_server: JWKSServer, signing_key: SigningKey
) -> None:
    # The same key published for encryption only, and an HMAC key with that kid: neither may verify.
    secret = b64url(b"shared-secret-that-is-long-enough-for-hs256")
    jwks_server.keys = [
        signing_key.jwk(use="enc"),
        {"kty": "oct", "kid": "hmac", "alg": "HS256", "k": secret},
        {"kty": "oct", "kid": "hmac2", "k": secret},
        {"kty": "RSA", "kid": "garbage", "n": "!!", "e": "AQAB"},
        {**signing_key.jwk(), "kid": 7},
        42,
        {**signing_key.jwk(), "kid": "ok"},
    ]
    verifier = make_verifier()
    assert await rejected(verifier, tokens.sign()) == "unknown signing key"
    hs = tokens.raw({"alg": "HS256", "kid": "hmac2"}, tokens.claims())
    assert await rejected(verifier, hs) == "unsupported algorithm"
    assert await verifier.verify(tokens.sign(headers={"kid": "ok"}))


async def test_key_rotation_needs_one_refetch(
    make_verifier: MakeVerifier,
    tokens: TokenFactory,
    jwks_server: JWKSServer,
    signing_key: SigningKey,
    rotated_key: SigningKey,
) -> None:
    verifier = make_verifier()
    await verifier.verify(tokens.sign())
    assert jwks_server.hits == 1
    jwks_server.publish(signing_key, rotated_key)
    await asyncio.sleep(INTERVAL + 0.05)  # the last fetch was the first one: long ago, in real life
    for _ in range(5):
        assert await verifier.verify(tokens.sign(key=rotated_key))
        assert await verifier.verify(tokens.sign())
    assert jwks_server.hits == 2


async def test_a_new_kid_right_after_a_fetch_waits_for_the_interval(
    make_verifier: MakeVerifier, tokens: TokenFactory, jwks_server: JWKSServer, rotated_key: SigningKey
) -> None:
    verifier = make_verifier()
    await verifier.verify(tokens.sign())
    jwks_server.publish(rotated_key)
    assert await rejected(verifier, tokens.sign(key=rotated_key)) == "unknown signing key"
    await asyncio.sleep(INTERVAL + 0.05)
    assert await verifier.verify(tokens.sign(key=rotated_key))
    assert jwks_server.hits == 2


async def test_default_refetch_interval_is_ten_seconds() -> None:
    verifier = CognitoJWTVerifier(issuer=ISSUER, client_id=CLIENT_ID, jwks_url="http://127.0.0.1:9/jwks")
    assert verifier.min_refetch_interval == 10.0
    defaults = inspect.signature(CognitoJWTVerifier).parameters
    assert defaults["min_refetch_interval"].default == 10.0
    assert defaults["http_timeout"].default == 5.0
    assert defaults["leeway"].default == 0


async def test_unknown_kid_flood_fetches_at_most_once_per_interval_by_default(
    tokens: TokenFactory, jwks_server: JWKSServer, signing_key: SigningKey
) -> None:
    verifier = CognitoJWTVerifier(issuer=ISSUER, client_id=CLIENT_ID, jwks_url=jwks_server.url)
    junk = [tokens.sign(key=SigningKey(f"junk-{i}", signing_key.private_key)) for i in range(100)]
    results = await asyncio.gather(*(verifier.verify(t) for t in junk), return_exceptions=True)
    assert all(isinstance(r, InvalidTokenError) and r.reason == "unknown signing key" for r in results)
    await asyncio.gather(*(verifier.verify(t) for t in junk), return_exceptions=True)
    assert await verifier.verify(tokens.sign())
    assert jwks_server.hits == 1
    assert verifier.fetch_count == 1


async def test_unknown_kid_flood_refetches_once_per_interval(
    make_verifier: MakeVerifier, tokens: TokenFactory, jwks_server: JWKSServer, signing_key: SigningKey
) -> None:
    verifier = make_verifier()
    junk = [tokens.sign(key=SigningKey(f"junk-{i}", signing_key.private_key)) for i in range(50)]
    for round_ in range(1, 4):
        await asyncio.gather(*(verifier.verify(t) for t in junk), return_exceptions=True)
        await asyncio.gather(*(verifier.verify(t) for t in junk), return_exceptions=True)
        assert jwks_server.hits == round_
        await asyncio.sleep(INTERVAL + 0.05)


async def test_concurrent_first_requests_share_one_fetch(
    make_verifier: MakeVerifier, tokens: TokenFactory, jwks_server: JWKSServer
) -> None:
    jwks_server.delay = 0.2
    verifier = make_verifier()
    results = await asyncio.gather(*(verifier.verify(tokens.sign()) for _ in range(20)))
    assert len(results) == 20
    assert jwks_server.hits == 1


async def test_jwks_server_down_is_unavailable_not_invalid(
    make_verifier: MakeVerifier, tokens: TokenFactory, jwks_server: JWKSServer
) -> None:
    verifier = make_verifier()
    jwks_server.stop()
    with pytest.raises(JWKSUnavailableError) as info:
        await verifier.verify(tokens.sign())
    assert not isinstance(info.value, InvalidTokenError)
    assert isinstance(info.value, ServiceUnavailable)
    assert info.value.status_code == 503
    assert "127.0.0.1" not in str(info.value.detail)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, None),
        (404, None),
        (200, b"<html>not json</html>"),
        (200, b'{"keys": "nope"}'),
        (200, b'{"keys": []}'),
        (200, b'{"keys": [{"kty": "oct", "kid": "x", "k": "c2VjcmV0"}]}'),
    ],
)
async def test_broken_jwks_answers_are_unavailable(
    make_verifier: MakeVerifier,
    tokens: TokenFactory,
    jwks_server: JWKSServer,
    status: int,
    body: bytes | None,
) -> None:
    jwks_server.status, jwks_server.body = status, body
    with pytest.raises(JWKSUnavailableError):
        await make_verifier().verify(tokens.sign())


async def test_jwks_timeout_is_unavailable(
    make_verifier: MakeVerifier, tokens: TokenFactory, jwks_server: JWKSServer
) -> None:
    jwks_server.delay = 1.0
    started = time.monotonic()
    with pytest.raises(JWKSUnavailableError):
        await make_verifier(http_timeout=0.2).verify(tokens.sign())
    assert time.monotonic() - started < 0.9


async def test_failure_is_remembered_for_the_interval_then_retried(
    make_verifier: MakeVerifier, tokens: TokenFactory, jwks_server: JWKSServer
) -> None:
    jwks_server.status = 503
    verifier = make_verifier()
    for _ in range(10):
        with pytest.raises(JWKSUnavailableError):
            await verifier.verify(tokens.sign())
    assert jwks_server.hits == 1
    jwks_server.status = 200
    await asyncio.sleep(INTERVAL + 0.05)
    assert await verifier.verify(tokens.sign())
    assert jwks_server.hits == 2


async def test_outage_keeps_cached_keys_working(
    make_verifier: MakeVerifier, tokens: TokenFactory, jwks_server: JWKSServer, rotated_key: SigningKey
) -> None:
    verifier = make_verifier(max_cache_age=0.3)
    await verifier.verify(tokens.sign())
    jwks_server.status = 500
    await asyncio.sleep(INTERVAL + 0.05)  # cache aged out and refetch allowed: the refetch fails
    assert await verifier.verify(tokens.sign())
    # An unknown kid during the outage cannot be judged: 503, not 401.
    with pytest.raises(JWKSUnavailableError):
        await verifier.verify(tokens.sign(key=rotated_key))
    assert jwks_server.hits == 2


async def test_key_removed_from_jwks_stops_working_when_cache_ages_out(
    make_verifier: MakeVerifier,
    tokens: TokenFactory,
    jwks_server: JWKSServer,
    rotated_key: SigningKey,
) -> None:
    verifier = make_verifier(max_cache_age=0.3)
    await verifier.verify(tokens.sign())
    jwks_server.publish(rotated_key)
    await asyncio.sleep(INTERVAL + 0.05)
    assert await rejected(verifier, tokens.sign()) == "unknown signing key"
    assert await verifier.verify(tokens.sign(key=rotated_key))


async def test_errors_map_to_401_and_503() -> None:
    invalid = InvalidTokenError("token expired")
    assert isinstance(invalid, Unauthorized)
    assert (invalid.status_code, invalid.detail, str(invalid)) == (401, "token expired", "token expired")
    assert invalid.headers == {"WWW-Authenticate": "Bearer"}
    down = JWKSUnavailableError("fetch failed: ConnectError")
    assert (down.status_code, down.detail) == (503, "authentication service unavailable")


async def test_tokens_are_never_logged(
    make_verifier: MakeVerifier,
    tokens: TokenFactory,
    jwks_server: JWKSServer,
    forger_key: SigningKey,
    rotated_key: SigningKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    verifier = make_verifier()
    good, forged, unknown = tokens.sign(), tokens.sign(key=forger_key), tokens.sign(key=rotated_key)
    await verifier.verify(good)
    for token in (forged, unknown):
        with pytest.raises(InvalidTokenError):
            await verifier.verify(token)
    jwks_server.stop()
    await asyncio.sleep(INTERVAL + 0.05)
    with pytest.raises(JWKSUnavailableError):
        await verifier.verify(unknown)
    assert caplog.records, "expected the verifier to log something"
    for token in (good, forged, unknown):
        for part in token.split("."):
            assert part not in caplog.text


@pytest.mark.parametrize(
    "kwargs",
    [
        {"issuer": ""},
        {"client_id": ""},
        {"jwks_url": ""},
        {"min_refetch_interval": -1},
        {"http_timeout": 0},
        {"leeway": -1},
    ],
)
async def test_bad_configuration_is_refused(kwargs: dict[str, Any]) -> None:
    options: dict[str, Any] = {"issuer": ISSUER, "client_id": CLIENT_ID, "jwks_url": "http://x/jwks.json"}
    with pytest.raises(ValueError, match=r"required|positive"):
        CognitoJWTVerifier(**{**options, **kwargs})
