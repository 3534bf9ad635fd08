"""`/api/files/{key}`: the HTTP side of LocalStorage's HMAC-signed URLs.

These routes are public (listed as such in the app's auth list): the signature in the query string
is the only credential, exactly like an S3 presigned URL, so a training job or a model server can
GET its inputs and PUT its outputs with nothing but the URL it was given. With the S3 backend the
URLs point at S3 itself and these routes answer 404.

Expects `request.app.state.storage` (a `Storage`) and `request.app.state.settings` (`Settings`,
for `max_upload_bytes`).
"""

from __future__ import annotations

import mimetypes
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.requests import ClientDisconnect

from podml.config import GIB
from podml.storage.base import ObjectNotFoundError, StorageError
from podml.storage.local import LocalStorage, ObjectTooLargeError
from podml.storage.signing import SignatureError

__all__ = ["router"]

router = APIRouter(prefix="/api/files", tags=["files"])

MethodParam = Annotated[str | None, Query(description="the HTTP method the URL was signed for")]
ExpiresParam = Annotated[str | None, Query(description="expiry, seconds since the Unix epoch")]
SigParam = Annotated[str | None, Query(description="hex HMAC-SHA256 signature")]
ContentTypeParam = Annotated[str | None, Query(description="signed content type, if any")]


def _local_storage(request: Request) -> LocalStorage:
    storage = getattr(request.app.state, "storage", None)
    if not isinstance(storage, LocalStorage):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
    return storage


def _max_upload_bytes(request: Request) -> int:
    settings = getattr(request.app.state, "settings", None)
    limit = getattr(settings, "max_upload_bytes", None)
    return limit if isinstance(limit, int) else GIB


def _forbidden(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, detail)


def _verify(
    storage: LocalStorage,
    key: str,
    request_method: str,
    method: str | None,
    expires: str | None,
    sig: str | None,
    content_type: str | None,
) -> None:
    if not (method and expires and sig):
        raise _forbidden("URL is not signed (method, expires and sig are required)")
    if method != request_method:
        raise _forbidden(f"URL is signed for {method}, not {request_method}")
    try:
        storage.verify_signature(key, method, expires, sig, content_type or None)
    except SignatureError as exc:
        raise _forbidden(str(exc)) from None


@router.get("/{key:path}", summary="Download an object through a signed URL")
async def download_file(
    request: Request,
    key: str,
    method: MethodParam = None,
    expires: ExpiresParam = None,
    sig: SigParam = None,
    content_type: ContentTypeParam = None,
) -> StreamingResponse:
    storage = _local_storage(request)
    _verify(storage, key, "GET", method, expires, sig, content_type)
    try:
        size, chunks = await storage.open_read(key)
    except (ObjectNotFoundError, ValueError):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "object not found") from None
    except StorageError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    media_type = content_type or mimetypes.guess_type(key)[0] or "application/octet-stream"
    headers = {
        "Content-Type": media_type,  # as a header, so Starlette adds no charset of its own
        "Content-Length": str(size),
        "Cache-Control": "private, no-store",
    }
    return StreamingResponse(chunks, headers=headers)


@router.put("/{key:path}", summary="Upload an object through a signed URL")
async def upload_file(
    request: Request,
    key: str,
    method: MethodParam = None,
    expires: ExpiresParam = None,
    sig: SigParam = None,
    content_type: ContentTypeParam = None,
) -> JSONResponse:
    storage = _local_storage(request)
    _verify(storage, key, "PUT", method, expires, sig, content_type)
    if content_type and request.headers.get("content-type") != content_type:
        raise _forbidden(f"Content-Type must be {content_type!r}, as signed")
    limit = _max_upload_bytes(request)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"upload exceeds the limit of {limit} bytes")
    try:
        size = await storage.put_stream(key, request.stream(), max_bytes=limit)
    except ObjectTooLargeError as exc:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(exc)) from None
    except ClientDisconnect:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "client disconnected mid-upload") from None
    except ValueError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "invalid key") from None
    except StorageError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    return JSONResponse({"key": key, "size_bytes": size})
