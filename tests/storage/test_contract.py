"""The Storage contract, run unchanged over LocalStorage and S3Storage (against rclone serve s3)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from podml.storage import ObjectNotFoundError, Storage, StorageError
from podml.storage.keys import dataset_key, job_prefix, model_prefix
from podml.storage.local import LocalStorage

KEY_ERROR = r"storage (key|prefix)"
ESCAPES = [
    "",
    "/etc/passwd",
    "../outside",
    "a/../../outside",
    "a/..",
    "a\\..\\b",
    "a//b",
    "a/./b",
    "a/",
    "a/\x00b",
    "a/\nb",
    "a/b..c",
    "x" * 1025,
]


async def test_ping(storage: Storage) -> None:
    await storage.ping()


async def test_put_and_get_bytes(storage: Storage) -> None:
    assert await storage.put_bytes("a/b/metrics.json", b'{"r2": 0.9}', "application/json") == 11
    assert await storage.get_bytes("a/b/metrics.json") == b'{"r2": 0.9}'
    assert await storage.exists("a/b/metrics.json")
    assert await storage.size("a/b/metrics.json") == 11


async def test_overwrite_replaces_the_object(storage: Storage) -> None:
    await storage.put_bytes("k/obj", b"first version, longer")
    await storage.put_bytes("k/obj", b"second")
    assert await storage.get_bytes("k/obj") == b"second"
    assert await storage.size("k/obj") == 6


async def test_empty_object(storage: Storage) -> None:
    assert await storage.put_bytes("empty/file", b"") == 0
    assert await storage.get_bytes("empty/file") == b""
    assert await storage.size("empty/file") == 0
    assert [chunk async for chunk in storage.get_stream("empty/file")] == []


async def test_put_file_get_stream_download_large_object(storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with open(source, "wb") as handle:
        for _ in range(20):  # 20 MiB: multipart on S3
            block = os.urandom(1024 * 1024)
            digest.update(block)
            handle.write(block)
    size = await storage.put_file("big/blob.bin", source, "application/octet-stream")
    assert size == 20 * 1024 * 1024
    assert await storage.size("big/blob.bin") == size

    streamed = hashlib.sha256()
    largest = 0
    async for chunk in storage.get_stream("big/blob.bin", chunk_size=256 * 1024):
        largest = max(largest, len(chunk))
        streamed.update(chunk)
    assert streamed.hexdigest() == digest.hexdigest()
    assert 0 < largest <= 256 * 1024

    target = tmp_path / "out" / "copy.bin"
    await storage.download_to("big/blob.bin", target)
    assert target.stat().st_size == size
    with open(target, "rb") as handle:
        assert hashlib.file_digest(handle, "sha256").hexdigest() == digest.hexdigest()


async def test_missing_keys(storage: Storage, tmp_path: Path) -> None:
    assert not await storage.exists("no/such/key")
    with pytest.raises(ObjectNotFoundError):
        await storage.get_bytes("no/such/key")
    with pytest.raises(ObjectNotFoundError):
        await storage.size("no/such/key")
    with pytest.raises(ObjectNotFoundError):
        await storage.download_to("no/such/key", tmp_path / "x")
    assert not (tmp_path / "x").exists()
    stream = storage.get_stream("no/such/key")
    with pytest.raises(ObjectNotFoundError):
        await anext(stream)
    await storage.delete("no/such/key")  # not an error


async def test_a_prefix_is_not_an_object(storage: Storage) -> None:
    await storage.put_bytes("dir/inner/file.txt", b"x")
    assert not await storage.exists("dir/inner")
    with pytest.raises(ObjectNotFoundError):
        await storage.size("dir")


async def test_put_file_missing_source(storage: Storage, tmp_path: Path) -> None:
    with pytest.raises(StorageError):
        await storage.put_file("k/x", tmp_path / "nope.csv")
    assert not await storage.exists("k/x")


async def test_delete(storage: Storage) -> None:
    await storage.put_bytes("d/one", b"1")
    await storage.put_bytes("d/two", b"2")
    await storage.delete("d/one")
    assert not await storage.exists("d/one")
    assert await storage.get_bytes("d/two") == b"2"


async def test_delete_prefix(storage: Storage) -> None:
    prefix = job_prefix("user|1", "job-1")
    for name in ("model.joblib", "metrics.json", "logs/a.txt", "logs/deep/b.txt"):
        await storage.put_bytes(prefix + name, b"x")
    await storage.put_bytes(
        job_prefix("user|1", "job-10") + "model.joblib", b"keep"
    )  # shares a string prefix
    await storage.put_bytes(job_prefix("user|2", "job-1") + "model.joblib", b"keep")

    assert await storage.delete_prefix(prefix) == 4
    assert not await storage.exists(prefix + "metrics.json")
    assert not await storage.exists(prefix + "logs/deep/b.txt")
    assert await storage.get_bytes(job_prefix("user|1", "job-10") + "model.joblib") == b"keep"
    assert await storage.get_bytes(job_prefix("user|2", "job-1") + "model.joblib") == b"keep"
    assert await storage.delete_prefix(prefix) == 0
    assert await storage.delete_prefix("never/written/") == 0


async def test_delete_prefix_many_objects(storage: Storage) -> None:
    prefix = model_prefix("owner", "model", "v1")
    for index in range(30):
        await storage.put_bytes(f"{prefix}part-{index:03d}", b"p")
    assert await storage.delete_prefix(prefix) == 30


async def test_delete_prefix_requires_trailing_slash(storage: Storage) -> None:
    for prefix in ("jobs/u/j", "", "/", "../", "a//"):
        with pytest.raises(ValueError, match=KEY_ERROR):
            await storage.delete_prefix(prefix)


async def test_platform_keys_round_trip(storage: Storage) -> None:
    for owner in ("google-oauth2|1234", "a@b.c", "..", "Ünïcode user", "x/../y"):
        key = dataset_key(owner, "d1")
        await storage.put_bytes(key, owner.encode())
        assert await storage.get_bytes(key) == owner.encode()
    assert await storage.delete_prefix("datasets/") == 5


@pytest.mark.parametrize("key", ESCAPES)
async def test_key_escape_attempts_are_refused(storage: Storage, key: str, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.write_bytes(b"evil")
    with pytest.raises(ValueError, match=KEY_ERROR):
        await storage.put_bytes(key, b"evil")
    with pytest.raises(ValueError, match=KEY_ERROR):
        await storage.put_file(key, source)
    with pytest.raises(ValueError, match=KEY_ERROR):
        await storage.get_bytes(key)
    with pytest.raises(ValueError, match=KEY_ERROR):
        await anext(storage.get_stream(key))
    with pytest.raises(ValueError, match=KEY_ERROR):
        await storage.exists(key)
    with pytest.raises(ValueError, match=KEY_ERROR):
        await storage.size(key)
    with pytest.raises(ValueError, match=KEY_ERROR):
        await storage.delete(key)
    with pytest.raises(ValueError, match=KEY_ERROR):
        await storage.download_to(key, tmp_path / "dl")
    with pytest.raises(ValueError, match=KEY_ERROR):
        storage.signed_url(key, "GET", 60)
    with pytest.raises(ValueError, match=KEY_ERROR):
        storage.uri(key)
    assert not (tmp_path.parent / "outside").exists()


async def test_uri(storage: Storage) -> None:
    uri = storage.uri("datasets/u/d/data.csv")
    if isinstance(storage, LocalStorage):
        assert uri == (storage.root / "datasets/u/d/data.csv").as_uri()
        assert uri.startswith("file:///")
    else:
        assert uri.startswith("s3://podml-test-")
        assert uri.endswith("/datasets/u/d/data.csv")
    assert storage.scheme in ("file", "s3")


async def test_local_symlink_escape_is_refused(local_storage: LocalStorage, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    local_storage.root.mkdir(parents=True, exist_ok=True)
    (local_storage.root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValueError, match="escapes"):
        await local_storage.put_bytes("link/evil", b"x")
    assert list(outside.iterdir()) == []


async def test_local_failed_write_leaves_nothing(local_storage: LocalStorage, tmp_path: Path) -> None:
    await local_storage.put_bytes("w/obj", b"old")

    async def broken_body() -> AsyncIterator[bytes]:
        yield b"partial data"
        raise RuntimeError("connection dropped")

    with pytest.raises(RuntimeError):
        await local_storage.put_stream("w/obj", broken_body())
    assert await local_storage.get_bytes("w/obj") == b"old"
    assert sorted(p.name for p in (local_storage.root / "w").iterdir()) == ["obj"]
