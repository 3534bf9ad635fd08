"""LocalStorage: objects are files under one folder; signed URLs are served by `storage.router`.

Writes go to a temporary file in the destination folder and are moved into place with
`os.replace`, so readers see the old object or the new one, never a partial file. Every file
operation runs in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable
from functools import partial
from pathlib import Path
from typing import BinaryIO, TypeVar

from podml.storage.base import Method, ObjectNotFoundError, Storage, StorageError
from podml.storage.keys import validate_key, validate_prefix
from podml.storage.signing import UrlSigner

__all__ = ["LocalStorage", "ObjectTooLargeError"]

_TMP_PREFIX = ".podml-tmp-"
_WRITE_BUFFER = 1024 * 1024
_T = TypeVar("_T")


class ObjectTooLargeError(StorageError):
    """A streamed upload went over its size limit; nothing was stored."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"upload exceeds the limit of {limit} bytes")
        self.limit = limit


class LocalStorage(Storage):
    """Objects as files under `root`; `signed_url()` points at `{public_url}/api/files/...`."""

    scheme = "file"

    def __init__(self, root: Path, secret_key: bytes, public_url: str) -> None:
        self.root = Path(root).resolve()
        self.signer = UrlSigner(secret_key, public_url)

    def __repr__(self) -> str:
        return f"LocalStorage(root={str(self.root)!r}, public_url={self.signer.public_url!r})"

    # -- paths ---------------------------------------------------------------------------------

    def path_for(self, key: str) -> Path:
        """The file that holds `key`; `ValueError` for any key that could leave the root.

        Resolves symlinks (so a planted link cannot escape): file-system I/O, call it in a thread.
        """
        validate_key(key)
        path = (self.root / key).resolve()
        if path == self.root or not path.is_relative_to(self.root):
            raise ValueError("storage key escapes the storage root")
        return path

    @staticmethod
    async def _run(func: Callable[[], _T], key: str, *, missing_is_not_found: bool = True) -> _T:
        """Run blocking I/O in a thread, mapping OS errors onto the storage errors."""
        try:
            return await asyncio.to_thread(func)
        except OSError as exc:
            if missing_is_not_found and isinstance(
                exc, FileNotFoundError | IsADirectoryError | NotADirectoryError
            ):
                raise ObjectNotFoundError(f"no object {key!r}") from None
            raise StorageError(f"local storage failed for {key!r}: {exc.strerror or exc}") from None

    # -- Storage -------------------------------------------------------------------------------

    async def ping(self) -> None:
        def probe() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=_TMP_PREFIX) as handle:
                handle.write(b"ping")

        await self._run(probe, str(self.root), missing_is_not_found=False)

    def uri(self, key: str) -> str:
        return (self.root / validate_key(key)).as_uri()  # no I/O: `root` is resolved once

    async def put_file(self, key: str, path: Path, content_type: str | None = None) -> int:
        validate_key(key)

        def copy() -> int:
            with open(path, "rb") as source:
                return _atomic_write(self.path_for(key), lambda out: _copy(source, out))

        return await self._run(copy, key, missing_is_not_found=False)

    async def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> int:
        validate_key(key)

        def write() -> int:
            return _atomic_write(self.path_for(key), lambda out: out.write(data))

        return await self._run(write, key, missing_is_not_found=False)

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        max_bytes: int | None = None,
        content_type: str | None = None,
    ) -> int:
        """Store an async stream of chunks (an HTTP request body) without holding it in memory.

        Over `max_bytes` raises `ObjectTooLargeError`; on any failure the temporary file is removed
        and an existing object under `key` is left untouched.
        """
        validate_key(key)
        target, handle, tmp_path = await self._run(
            lambda: _open_temp(self.path_for(key)), key, missing_is_not_found=False
        )
        committed = False
        try:
            total = 0
            buffer = bytearray()
            async for chunk in chunks:
                total += len(chunk)
                if max_bytes is not None and total > max_bytes:
                    raise ObjectTooLargeError(max_bytes)
                buffer += chunk
                if len(buffer) >= _WRITE_BUFFER:
                    await self._run(partial(handle.write, bytes(buffer)), key, missing_is_not_found=False)
                    buffer.clear()
            if buffer:
                await self._run(partial(handle.write, bytes(buffer)), key, missing_is_not_found=False)
            await self._run(partial(_commit, handle, tmp_path, target), key, missing_is_not_found=False)
            committed = True
            return total
        finally:
            if not committed:  # also on cancellation: two quick calls, not worth a thread
                handle.close()
                tmp_path.unlink(missing_ok=True)

    async def open_read(
        self, key: str, chunk_size: int = 1024 * 1024
    ) -> tuple[int, AsyncGenerator[bytes, None]]:
        """Open `key` now (`ObjectNotFoundError` if missing) and return its size and its chunks.

        The size comes from the open file, so it matches the bytes streamed even if the object is
        replaced or deleted meanwhile.
        """
        validate_key(key)

        def open_file() -> tuple[BinaryIO, int]:
            handle = open(self.path_for(key), "rb")  # noqa: SIM115 - closed by the generator below
            try:
                return handle, os.fstat(handle.fileno()).st_size
            except BaseException:
                handle.close()
                raise

        handle, size = await self._run(open_file, key)

        async def chunks() -> AsyncGenerator[bytes, None]:
            try:
                while chunk := await self._run(partial(handle.read, chunk_size), key):
                    yield chunk
            finally:
                handle.close()

        return size, chunks()

    async def get_stream(self, key: str, chunk_size: int = 1024 * 1024) -> AsyncIterator[bytes]:
        _, chunks = await self.open_read(key, chunk_size)
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            await chunks.aclose()

    async def get_bytes(self, key: str) -> bytes:
        validate_key(key)
        return await self._run(lambda: self.path_for(key).read_bytes(), key)

    async def download_to(self, key: str, path: Path) -> None:
        validate_key(key)

        def copy() -> None:
            with open(self.path_for(key), "rb") as source:
                _atomic_write(Path(path), lambda out: _copy(source, out))

        await self._run(copy, key)

    async def exists(self, key: str) -> bool:
        validate_key(key)
        return await self._run(lambda: self.path_for(key).is_file(), key)

    async def size(self, key: str) -> int:
        validate_key(key)

        def stat() -> int:
            path = self.path_for(key)
            if not path.is_file():
                raise FileNotFoundError(key)
            return path.stat().st_size

        return await self._run(stat, key)

    async def delete(self, key: str) -> None:
        validate_key(key)

        def remove() -> None:
            path = self.path_for(key)
            if path.is_file():
                path.unlink(missing_ok=True)

        await self._run(remove, key, missing_is_not_found=False)

    async def delete_prefix(self, prefix: str) -> int:
        validate_prefix(prefix)

        def remove_tree() -> int:
            folder = self.path_for(prefix[:-1])
            if not folder.is_dir():
                return 0
            count = sum(1 for p in folder.rglob("*") if p.is_file() and not p.name.startswith(_TMP_PREFIX))
            shutil.rmtree(folder)
            return count

        return await self._run(remove_tree, prefix, missing_is_not_found=False)

    def signed_url(self, key: str, method: Method, expires_in: int, content_type: str | None = None) -> str:
        validate_key(key)
        return self.signer.url(key, method, expires_in, content_type)

    def verify_signature(
        self, key: str, method: str, expires: int | str, sig: str, content_type: str | None = None
    ) -> None:
        """Raise `SignatureMismatchError` (tampered, wrong method) or `SignatureExpiredError`."""
        self.signer.verify(key, method, expires, sig, content_type)


def _copy(source: BinaryIO, out: BinaryIO) -> int:
    shutil.copyfileobj(source, out, _WRITE_BUFFER)
    return out.tell()


def _open_temp(target: Path) -> tuple[Path, BinaryIO, Path]:
    """Create the folders and a temporary sibling of `target`: (target, open file, its path)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=_TMP_PREFIX)
    return target, os.fdopen(fd, "wb"), Path(name)


def _commit(handle: BinaryIO, tmp_path: Path, target: Path) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()
    os.chmod(tmp_path, 0o644)  # mkstemp creates 0600; objects get ordinary file permissions
    os.replace(tmp_path, target)


def _atomic_write(target: Path, write: Callable[[BinaryIO], int]) -> int:
    """Write through a temporary sibling file and move it into place; never a partial object."""
    target, handle, tmp_path = _open_temp(target)
    try:
        size = write(handle)
        _commit(handle, tmp_path, target)
        return size
    except BaseException:
        handle.close()
        tmp_path.unlink(missing_ok=True)
        raise
