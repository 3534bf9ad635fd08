"""Key layout and encoding, and `build_storage` choosing the backend from settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from podml.config import Settings
from podml.storage import ObjectNotFoundError, Storage, StorageError, build_storage
from podml.storage.keys import (
    dataset_key,
    job_prefix,
    model_prefix,
    segment,
    validate_key,
    validate_prefix,
)
from podml.storage.local import LocalStorage
from podml.storage.s3 import S3Storage


def test_layout() -> None:
    owner = "4f1c2a9e-0000-4000-8000-000000000001"
    assert dataset_key(owner, "d1") == f"datasets/{owner}/d1/data.csv"
    assert dataset_key(owner, "d1", "train.parquet") == f"datasets/{owner}/d1/train.parquet"
    assert model_prefix(owner, "m1", "v2") == f"models/{owner}/m1/v2/"
    assert job_prefix(owner, "j1") == f"jobs/{owner}/j1/"


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("plain-Sub_1.x", "plain-Sub_1.x"),
        ("google-oauth2|1234", "google-oauth2%7C1234"),
        ("a@b.com", "a%40b.com"),
        ("a/b", "a%2Fb"),
        ("a\\b", "a%5Cb"),
        ("a b", "a%20b"),
        ("é", "%C3%A9"),
        ("100%", "100%25"),
        (".", "%2E"),
        ("..", "%2E%2E"),
        ("...", "%2E%2E%2E"),
        ("..a", "%2E%2Ea"),
        ("a.b.c", "a.b.c"),
        ("a...b", "a%2E%2E%2Eb"),
        (".hidden", ".hidden"),
        ("x\x00y", "x%00y"),
    ],
)
def test_segment_encoding(raw: str, encoded: str) -> None:
    assert segment(raw) == encoded
    assert segment(raw) == segment(raw)  # deterministic


def test_segment_is_injective_on_tricky_inputs() -> None:
    inputs = [
        "..",
        "%2E%2E",
        "%2e%2e",
        ".",
        "%2E",
        "a|b",
        "a%7Cb",
        "a/b",
        "a%2Fb",
        "a b",
        "a+b",
        "a..b",
        "a%2E%2Eb",
    ]
    assert len({segment(value) for value in inputs}) == len(inputs)


def test_owner_subs_never_escape() -> None:
    for owner in ["..", "../..", "/etc", "a/../../b", "\\..\\", ".", "x\ny"]:
        assert len(dataset_key(owner, "d").split("/")) == 4
        assert len(model_prefix(owner, "m", "v").split("/")) == 5  # ends with "/"
        assert len(job_prefix(owner, "j").split("/")) == 4
        for key in (dataset_key(owner, "d"), model_prefix(owner, "m", "v"), job_prefix(owner, "j")):
            assert key.split("/")[1] not in ("", ".")
            assert ".." not in key
            validate_key(key.rstrip("/"))
    with pytest.raises(ValueError, match="empty"):
        segment("")
    with pytest.raises(ValueError, match="empty"):
        dataset_key("owner", "")


def test_validate_prefix() -> None:
    assert validate_prefix("jobs/u/") == "jobs/u/"
    for bad in ("jobs/u", "", "/", "jobs//", "../"):
        with pytest.raises(ValueError, match=r"storage (key|prefix)"):
            validate_prefix(bad)


def test_errors_are_a_hierarchy() -> None:
    assert issubclass(ObjectNotFoundError, StorageError)


def test_build_local_storage(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, public_url="http://podml.example:8000/")
    storage: Storage = build_storage(settings)
    assert isinstance(storage, LocalStorage)
    assert storage.root == (tmp_path / "objects").resolve()
    assert storage.signed_url("a/b", "GET", 60).startswith("http://podml.example:8000/api/files/a/b?")


def test_build_s3_storage(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        storage_backend="s3",
        s3_bucket="models-bucket",
        s3_endpoint_url="http://minio.podml.svc:9000",
        s3_public_endpoint_url="http://minio.example.com",
        s3_region="eu-west-1",
        s3_access_key_id="AKIAEXAMPLE",
        s3_secret_access_key=SecretStr("super-secret-value-0123456789"),
        s3_create_bucket=True,
    )
    storage = build_storage(settings)
    assert isinstance(storage, S3Storage)
    assert storage.bucket == "models-bucket"
    assert storage.region == "eu-west-1"
    assert storage.create_bucket is True
    assert storage.uri("a/b") == "s3://models-bucket/a/b"
    url = storage.signed_url("a/b", "PUT", 60, "text/csv")
    assert url.startswith("http://minio.example.com/models-bucket/a/b?")
    assert "super-secret-value" not in url
    assert "super-secret-value" not in repr(storage)


def test_build_s3_storage_defaults_public_endpoint(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        storage_backend="s3",
        s3_endpoint_url="http://127.0.0.1:9000",
        s3_access_key_id="ak",
        s3_secret_access_key=SecretStr("sk"),
    )
    storage = build_storage(settings)
    assert isinstance(storage, S3Storage)
    assert storage.signed_url("k", "GET", 60).startswith("http://127.0.0.1:9000/podml/k?")
