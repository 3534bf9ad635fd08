"""S3-specific behaviour against a real S3 server (rclone serve s3): errors, buckets, hosts."""

from __future__ import annotations

import uuid

import httpx
import pytest

from podml.storage import ObjectNotFoundError, StorageError
from podml.storage import s3 as s3_module
from podml.storage.s3 import S3Storage
from tests.support.rclone import RcloneS3
from tests.support.server import free_port

LEAKY_SECRET = "wrong-secret-MUST-NOT-LEAK-7f3a9c"


def _bucket() -> str:
    return f"podml-test-{uuid.uuid4().hex[:12]}"


async def test_wrong_credentials_are_storage_errors_without_the_secret(
    rclone_s3: RcloneS3, s3_storage: S3Storage
) -> None:
    await s3_storage.put_bytes("k/obj", b"data")
    wrong = S3Storage(
        bucket=s3_storage.bucket,
        endpoint_url=rclone_s3.endpoint,
        access_key=rclone_s3.access_key,
        secret_key=LEAKY_SECRET,
    )
    assert LEAKY_SECRET not in repr(wrong)
    failures = []
    for call in (
        wrong.ping(),
        wrong.put_bytes("k/obj", b"x"),
        wrong.get_bytes("k/obj"),
        wrong.size("k/obj"),
        wrong.exists("k/obj"),
        wrong.delete_prefix("k/"),
    ):
        with pytest.raises(StorageError) as caught:
            await call
        assert not isinstance(caught.value, ObjectNotFoundError)
        failures.append(str(caught.value))
    for message in failures:
        assert LEAKY_SECRET not in message
        assert rclone_s3.secret_key not in message
        assert message.startswith("S3 ")
        assert s3_storage.bucket in message
    assert "SignatureDoesNotMatch" in failures[2]
    assert await s3_storage.get_bytes("k/obj") == b"data"


async def test_ping_creates_the_bucket_only_when_asked(rclone_s3: RcloneS3) -> None:
    bucket = _bucket()
    strict = rclone_s3.storage(bucket, create=False)
    with pytest.raises(StorageError, match=f"S3 head bucket failed for s3://{bucket}"):
        await strict.ping()
    creating = rclone_s3.storage(bucket, create=True)
    await creating.ping()
    await creating.ping()  # idempotent
    await strict.ping()


async def test_unreachable_endpoint_is_a_storage_error() -> None:
    storage = S3Storage(
        bucket="podml",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        access_key="ak",
        secret_key=LEAKY_SECRET,
    )
    with pytest.raises(StorageError, match="EndpointConnectionError") as caught:
        await storage.get_bytes("k")
    assert LEAKY_SECRET not in str(caught.value)


async def test_presigned_urls_are_signed_for_the_public_endpoint(rclone_s3: RcloneS3) -> None:
    public = f"http://localhost:{rclone_s3.port}"
    storage = rclone_s3.storage(_bucket(), public_endpoint=public)
    await storage.ping()
    await storage.put_bytes("p/obj.txt", b"through the public name")
    url = storage.signed_url("p/obj.txt", "GET", 60)
    assert url.startswith(f"{public}/{storage.bucket}/p/obj.txt?")
    assert rclone_s3.secret_key not in url
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
        assert response.status_code == 200
        assert response.content == b"through the public name"
        # The signature covers the Host header: the same URL through another name is refused.
        other_host = url.replace(public, rclone_s3.endpoint)
        assert (await client.get(other_host)).status_code == 403


async def test_delete_prefix_pages_and_batches(
    s3_storage: S3Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_module, "_LIST_PAGE", 4)
    monkeypatch.setattr(s3_module, "_DELETE_BATCH", 3)
    for index in range(23):
        await s3_storage.put_bytes(f"many/u/{index:02d}", b"x")
    await s3_storage.put_bytes("many/v/keep", b"x")
    assert await s3_storage.delete_prefix("many/u/") == 23
    assert await s3_storage.delete_prefix("many/u/") == 0
    assert await s3_storage.exists("many/v/keep")


async def test_content_type_is_stored(s3_storage: S3Storage, rclone_s3: RcloneS3) -> None:
    await s3_storage.put_bytes("ct/metrics.json", b"{}", "application/json")
    async with httpx.AsyncClient() as client:
        response = await client.get(s3_storage.signed_url("ct/metrics.json", "GET", 60))
    assert response.headers["content-type"] == "application/json"


def test_signed_url_arguments_are_checked(rclone_s3: RcloneS3) -> None:
    storage = rclone_s3.storage("podml-unused", create=False)
    with pytest.raises(ValueError, match="expires_in"):
        storage.signed_url("k", "GET", 0)
    with pytest.raises(ValueError, match="method"):
        storage.signed_url("k", "DELETE", 60)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bucket"):
        S3Storage(bucket="")
