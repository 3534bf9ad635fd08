"""The `/api/files` router and the HMAC signatures behind LocalStorage's URLs."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from podml.storage.local import LocalStorage
from podml.storage.router import router as files_router
from podml.storage.s3 import S3Storage
from podml.storage.signing import SignatureExpiredError, SignatureMismatchError, UrlSigner
from tests.storage.conftest import SECRET_KEY, FilesServer, make_settings, mount
from tests.storage.test_signed_urls import tamper_query
from tests.support.rclone import RcloneS3


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def _leftovers(storage: LocalStorage) -> list[str]:
    return sorted(str(p.relative_to(storage.root)) for p in storage.root.rglob("*") if p.is_file())


# -- signatures (no HTTP) ----------------------------------------------------------------------


def test_verify_signature_accepts_a_genuine_url(local_storage: LocalStorage) -> None:
    query = _query(local_storage.signed_url("a/b.csv", "GET", 60))
    local_storage.verify_signature("a/b.csv", "GET", query["expires"], query["sig"])


def test_verify_signature_tells_expired_from_forged() -> None:
    signer = UrlSigner(SECRET_KEY, "http://files.test")
    now = 1_800_000_000.0
    query = _query(signer.url("a/b.csv", "PUT", 10, "text/csv", now=now))
    expires, sig = query["expires"], query["sig"]
    signer.verify("a/b.csv", "PUT", expires, sig, "text/csv", now=now + 10)  # valid to the second
    with pytest.raises(SignatureExpiredError, match="URL expired"):
        signer.verify("a/b.csv", "PUT", expires, sig, "text/csv", now=now + 11)
    forgeries = [
        ("a/c.csv", "PUT", expires, sig, "text/csv"),  # another key
        ("a/b.csv", "GET", expires, sig, "text/csv"),  # another method
        ("a/b.csv", "PUT", str(int(expires) + 3600), sig, "text/csv"),  # a later expiry
        ("a/b.csv", "PUT", expires, sig, None),  # content type dropped
        ("a/b.csv", "PUT", expires, sig, "text/plain"),  # another content type
        ("a/b.csv", "PUT", expires, "0" * 64, "text/csv"),  # another signature
        ("a/b.csv", "PUT", expires, sig[:-2], "text/csv"),  # a truncated one
        ("a/b.csv", "PUT", "soon", sig, "text/csv"),  # a malformed expiry
        ("a/b.csv", "DELETE", expires, sig, "text/csv"),  # a method that is never signed
    ]
    for key, method, exp, signature, content_type in forgeries:
        with pytest.raises(SignatureMismatchError, match=r"signature does not match|cannot be signed"):
            signer.verify(key, method, exp, signature, content_type, now=now)
    # A forged *and* expired URL is reported as forged: the MAC is checked first.
    with pytest.raises(SignatureMismatchError):
        signer.verify("a/c.csv", "PUT", expires, sig, "text/csv", now=now + 100)


def test_another_secret_does_not_verify() -> None:
    query = _query(UrlSigner(b"one secret", "http://x").url("k", "GET", 60))
    with pytest.raises(SignatureMismatchError):
        UrlSigner(b"another secret", "http://x").verify("k", "GET", query["expires"], query["sig"])


def test_signer_never_shows_its_key(local_storage: LocalStorage) -> None:
    assert SECRET_KEY.decode() not in repr(local_storage)
    assert SECRET_KEY.decode() not in repr(local_storage.signer)


def test_signed_url_arguments_are_checked(local_storage: LocalStorage) -> None:
    with pytest.raises(ValueError, match="expires_in"):
        local_storage.signed_url("k", "GET", 0)
    with pytest.raises(ValueError, match="method"):
        local_storage.signed_url("k", "DELETE", 60)  # type: ignore[arg-type]


# -- the router over real HTTP -----------------------------------------------------------------


async def test_router_messages_name_the_problem(local_storage: LocalStorage) -> None:
    await local_storage.put_bytes("r/u/f.txt", b"hello")
    url = local_storage.signed_url("r/u/f.txt", "GET", 60)
    expired = local_storage.signer.url("r/u/f.txt", "GET", 1, now=time.time() - 60)
    base = url.split("?")[0]
    cases = {
        url.replace("/r/u/f.txt", "/r/u/g.txt"): "signature does not match",
        tamper_query(url, "sig"): "signature does not match",
        tamper_query(url, "expires", str(int(_query(url)["expires"]) + 3600)): "signature does not match",
        tamper_query(url, "method", "PUT"): "URL is signed for PUT, not GET",
        tamper_query(url, "content_type", "text/html"): "signature does not match",
        expired: "URL expired",
        base: "URL is not signed (method, expires and sig are required)",
        base + "?method=GET&expires=1": "URL is not signed (method, expires and sig are required)",
    }
    async with httpx.AsyncClient() as client:
        for bad_url, detail in cases.items():
            response = await client.get(bad_url)
            assert response.status_code == 403, bad_url
            assert response.json() == {"detail": detail}, bad_url
        response = await client.put(url, content=b"x")
        assert response.status_code == 403
        assert response.json() == {"detail": "URL is signed for GET, not PUT"}
    assert await local_storage.get_bytes("r/u/f.txt") == b"hello"


async def test_router_get_headers_and_missing_object(local_storage: LocalStorage) -> None:
    payload = bytes(range(256)) * 8192  # 2 MiB, several chunks
    await local_storage.put_bytes("r/u/model.joblib", payload)
    await local_storage.put_bytes("r/u/metrics.json", b"{}")
    async with httpx.AsyncClient() as client:
        response = await client.get(local_storage.signed_url("r/u/model.joblib", "GET", 60))
        assert response.status_code == 200
        assert response.headers["content-length"] == str(len(payload))
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.content == payload
        response = await client.get(local_storage.signed_url("r/u/metrics.json", "GET", 60))
        assert response.headers["content-type"] == "application/json"
        response = await client.get(local_storage.signed_url("r/u/absent.csv", "GET", 60))
        assert response.status_code == 404
        assert response.json() == {"detail": "object not found"}


async def test_router_put_over_the_limit_is_413_and_leaves_nothing(
    local_storage: LocalStorage, files_server: FilesServer, tmp_path: Path
) -> None:
    mount(files_server, local_storage, make_settings(tmp_path, max_upload_bytes=100_000))
    await local_storage.put_bytes("big/u/data.csv", b"previous")
    url = local_storage.signed_url("big/u/data.csv", "PUT", 60)

    async def chunked_body() -> AsyncIterator[bytes]:  # no Content-Length: counted while streaming
        for _ in range(40):
            yield b"z" * 4096

    async with httpx.AsyncClient() as client:
        declared = await client.put(url, content=b"y" * 100_001)
        streamed = await client.put(url, content=chunked_body())
        at_limit = await client.put(url, content=b"w" * 100_000)
    assert declared.status_code == 413
    assert declared.json() == {"detail": "upload exceeds the limit of 100000 bytes"}
    assert streamed.status_code == 413
    assert at_limit.status_code == 200
    assert at_limit.json() == {"key": "big/u/data.csv", "size_bytes": 100_000}
    assert _leftovers(local_storage) == ["big/u/data.csv"]


async def test_router_put_streams_a_large_body(local_storage: LocalStorage) -> None:
    url = local_storage.signed_url("up/u/big.bin", "PUT", 60)
    block = bytes(range(256)) * 4096  # 1 MiB

    async def body() -> AsyncIterator[bytes]:
        for _ in range(12):
            yield block

    async with httpx.AsyncClient() as client:
        response = await client.put(url, content=body())
    assert response.status_code == 200, response.text
    assert await local_storage.size("up/u/big.bin") == 12 * len(block)
    assert _leftovers(local_storage) == ["up/u/big.bin"]


async def test_router_is_404_when_storage_is_s3(files_server: FilesServer, rclone_s3: RcloneS3) -> None:
    local = LocalStorage(Path("/nonexistent-podml-root"), SECRET_KEY, files_server.url)
    url = local.signed_url("a/b.csv", "GET", 60)
    s3: S3Storage = rclone_s3.storage("unused-bucket", create=False)
    files_server.app.state.storage = s3
    try:
        async with httpx.AsyncClient() as client:
            assert (await client.get(url)).status_code == 404
            assert (await client.put(url.replace("GET", "PUT"), content=b"x")).status_code == 404
    finally:
        files_server.app.state.storage = None


async def test_router_in_process_with_asgi_transport(tmp_path: Path) -> None:
    app = FastAPI()
    app.include_router(files_router)
    storage = LocalStorage(tmp_path / "objects", SECRET_KEY, "http://podml.test")
    app.state.storage = storage
    app.state.settings = make_settings(tmp_path)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport) as client:
        put_url = storage.signed_url("k/u/x.csv", "PUT", 60, "text/csv")
        response = await client.put(put_url, content=b"a,b\n", headers={"Content-Type": "text/csv"})
        assert response.status_code == 200
        response = await client.get(storage.signed_url("k/u/x.csv", "GET", 60))
        assert response.status_code == 200
        assert response.content == b"a,b\n"
        assert response.headers["content-type"] == "text/csv"
    openapi = app.openapi()
    assert "/api/files/{key}" in openapi["paths"]
