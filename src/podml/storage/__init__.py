"""Object storage: one interface (`Storage`), a local-folder and an S3 implementation.

`build_storage(settings)` picks the backend from `PODML_STORAGE_BACKEND`. Keys come from `keys.py`.
The S3 client is imported only when the S3 backend is chosen.
"""

from __future__ import annotations

from podml.config import Settings
from podml.storage.base import Method, ObjectNotFoundError, Storage, StorageError

__all__ = ["Method", "ObjectNotFoundError", "Storage", "StorageError", "build_storage"]


def build_storage(settings: Settings) -> Storage:
    """The storage backend the settings ask for (no I/O; call `await storage.ping()` to check it)."""
    if settings.storage_backend == "s3":
        from podml.storage.s3 import S3Storage

        return S3Storage(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url or None,
            public_endpoint_url=settings.s3_public_endpoint_url or None,
            region=settings.s3_region,
            access_key=settings.s3_access_key_id or None,
            secret_key=settings.s3_secret_access_key.get_secret_value() or None,
            create_bucket=settings.s3_create_bucket,
        )
    from podml.storage.local import LocalStorage

    return LocalStorage(
        root=settings.storage_dir,
        secret_key=settings.secret_key.get_secret_value().encode("utf-8"),
        public_url=settings.public_url,
    )
