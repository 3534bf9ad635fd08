"""S3Storage: S3 / MinIO (or any S3-compatible server) through boto3, run in worker threads.

Two clients share one configuration: `_client` talks to `endpoint_url` (the address the platform
reaches S3 at); `_signer` only signs presigned URLs, for `public_endpoint_url` (the address a job,
a pod or a browser reaches S3 at). A SigV4 signature covers the Host header, so a URL signed for
`minio.podml.svc:9000` does not work as `localhost:9000`.

Errors: a missing object is `ObjectNotFoundError`; every other failure is `StorageError` with the
S3 error code and message, never a credential.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from podml.storage.base import Method, ObjectNotFoundError, Storage, StorageError
from podml.storage.keys import validate_key, validate_prefix

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

__all__ = ["S3Storage"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_NO_BUCKET_CODES = frozenset({"NoSuchBucket", "404", "NotFound"})
_DELETE_BATCH = 1000  # the DeleteObjects maximum
_LIST_PAGE = 1000  # the ListObjectsV2 maximum
# Files over 8 MiB go up (and come down) in 8 MiB parts, several at a time, streamed from disk.
_TRANSFER = TransferConfig(multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024)


def _config() -> Config:
    # Path-style addressing works with MinIO and any self-hosted server; checksums only when an
    # operation requires them (S3-compatible servers differ on the newer flexible checksums).
    return Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        response_checksum_validation="when_required",
        request_checksum_calculation="when_required",
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=10,
        read_timeout=60,
    )


class S3Storage(Storage):
    """Objects in one S3 bucket; `signed_url()` returns SigV4 presigned URLs."""

    scheme = "s3"

    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None = None,
        public_endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        create_bucket: bool = False,
    ) -> None:
        if not bucket:
            raise ValueError("an S3 bucket name is required")
        self.bucket = bucket
        self.region = region or "us-east-1"
        self.endpoint_url = endpoint_url or None
        self.public_endpoint_url = public_endpoint_url or self.endpoint_url
        self.create_bucket = create_bucket
        self._secret = secret_key or ""
        # Empty credentials fall back to boto3's chain (environment, IRSA / pod identity, profile).
        session = (
            boto3.session.Session(
                aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=self.region
            )
            if access_key and secret_key
            else boto3.session.Session(region_name=self.region)
        )
        self._client: S3Client = session.client("s3", endpoint_url=self.endpoint_url, config=_config())
        self._signer: S3Client = (
            self._client
            if self.public_endpoint_url == self.endpoint_url
            else session.client("s3", endpoint_url=self.public_endpoint_url, config=_config())
        )

    def __repr__(self) -> str:  # never show credentials
        return f"S3Storage(bucket={self.bucket!r}, endpoint_url={self.endpoint_url!r})"

    # -- helpers -------------------------------------------------------------------------------

    def _error(self, exc: Exception, action: str, key: str | None) -> StorageError:
        where = f"s3://{self.bucket}/{key}" if key is not None else f"s3://{self.bucket}"
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "Unknown"))
            if key is not None and code in _NOT_FOUND_CODES:
                return ObjectNotFoundError(f"no object {where}")
            detail = f"{code}: {error.get('Message') or 'no message'}"
        else:
            detail = f"{type(exc).__name__}: {exc}"
        if self._secret:
            detail = detail.replace(self._secret, "***")
        return StorageError(f"S3 {action} failed for {where} ({detail})")

    async def _call(self, func: Callable[[], _T], action: str, key: str | None) -> _T:
        try:
            return await asyncio.to_thread(func)
        except (ClientError, BotoCoreError, Boto3Error) as exc:
            raise self._error(exc, action, key) from None

    # -- Storage -------------------------------------------------------------------------------

    async def ping(self) -> None:
        def head_or_create() -> None:
            try:
                self._client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                if not (self.create_bucket and code in _NO_BUCKET_CODES):
                    raise
                logger.info("creating bucket %s", self.bucket)
                if self.region == "us-east-1":
                    self._client.create_bucket(Bucket=self.bucket)
                else:
                    self._client.create_bucket(
                        Bucket=self.bucket,
                        CreateBucketConfiguration={"LocationConstraint": self.region},  # type: ignore[typeddict-item]
                    )

        await self._call(head_or_create, "head bucket", None)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{validate_key(key)}"

    async def put_file(self, key: str, path: Path, content_type: str | None = None) -> int:
        validate_key(key)
        extra = {"ContentType": content_type} if content_type else None
        try:
            size = await asyncio.to_thread(os.path.getsize, path)
        except OSError:
            raise StorageError(f"cannot upload {key!r}: source file {str(path)!r} not found") from None

        def upload() -> None:
            self._client.upload_file(str(path), self.bucket, key, ExtraArgs=extra, Config=_TRANSFER)

        await self._call(upload, "upload", key)
        return size

    async def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> int:
        validate_key(key)

        def put() -> None:
            if content_type:
                self._client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
            else:
                self._client.put_object(Bucket=self.bucket, Key=key, Body=data)

        await self._call(put, "put", key)
        return len(data)

    async def get_stream(self, key: str, chunk_size: int = 1024 * 1024) -> AsyncIterator[bytes]:
        validate_key(key)
        response = await self._call(lambda: self._client.get_object(Bucket=self.bucket, Key=key), "get", key)
        body = response["Body"]
        try:
            while chunk := await self._call(lambda: body.read(chunk_size), "read", key):
                yield chunk
        finally:
            body.close()

    async def get_bytes(self, key: str) -> bytes:
        validate_key(key)

        def read() -> bytes:
            body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"]
            try:
                return body.read()
            finally:
                body.close()

        return await self._call(read, "get", key)

    async def download_to(self, key: str, path: Path) -> None:
        validate_key(key)
        target = Path(path)

        def download() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            # boto3 writes to a temporary name and renames it into place when complete.
            self._client.download_file(self.bucket, key, str(target), Config=_TRANSFER)

        await self._call(download, "download", key)

    async def exists(self, key: str) -> bool:
        try:
            await self.size(key)
        except ObjectNotFoundError:
            return False
        return True

    async def size(self, key: str) -> int:
        validate_key(key)
        head = await self._call(lambda: self._client.head_object(Bucket=self.bucket, Key=key), "head", key)
        return int(head["ContentLength"])

    async def delete(self, key: str) -> None:
        validate_key(key)
        await self._call(lambda: self._client.delete_object(Bucket=self.bucket, Key=key), "delete", key)

    async def delete_prefix(self, prefix: str) -> int:
        validate_prefix(prefix)

        def delete_all() -> int:
            deleted = 0
            batch: list[ObjectIdentifierTypeDef] = []
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(
                Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": _LIST_PAGE}
            ):
                for item in page.get("Contents", []):
                    batch.append({"Key": item["Key"]})
                    if len(batch) == _DELETE_BATCH:
                        deleted += self._delete_batch(batch)
                        batch = []
            if batch:
                deleted += self._delete_batch(batch)
            return deleted

        return await self._call(delete_all, "delete prefix", prefix)

    def _delete_batch(self, batch: list[ObjectIdentifierTypeDef]) -> int:
        response = self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
        errors = response.get("Errors", [])
        if errors:
            first = errors[0]
            raise StorageError(
                f"S3 delete failed for {len(errors)} object(s) in s3://{self.bucket}, e.g. "
                f"{first.get('Key')!r} ({first.get('Code')}: {first.get('Message')})"
            )
        return len(batch)

    def signed_url(self, key: str, method: Method, expires_in: int, content_type: str | None = None) -> str:
        validate_key(key)
        if expires_in < 1:
            raise ValueError("expires_in must be at least 1 second")
        params: dict[str, str] = {"Bucket": self.bucket, "Key": key}
        if method == "GET":
            if content_type:
                params["ResponseContentType"] = content_type
            operation = "get_object"
        elif method == "PUT":
            if content_type:
                params["ContentType"] = content_type
            operation = "put_object"
        else:
            raise ValueError(f"method must be GET or PUT, not {method!r}")
        try:
            return self._signer.generate_presigned_url(
                operation, Params=params, ExpiresIn=expires_in, HttpMethod=method
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "presign", key) from None
