"""Receive one file of a multipart/form-data request straight into a temporary file.

Starlette's `request.form()` spools every file part, whatever its size, before the route sees it.
`receive_upload` instead feeds `request.stream()` to python-multipart's streaming parser and writes
the file part to disk as it arrives, so memory stays bounded (about `WRITE_BUFFER` bytes) and an
oversized upload is refused as soon as it is detected: from `Content-Length` before reading
anything, else as soon as the count passes the limit. Nothing is read after an error, and the
temporary file is removed on every failure, including a client disconnect or a cancelled task.
"""

from __future__ import annotations

import tempfile
from collections.abc import Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

import anyio.to_thread
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

DEFAULT_TEXT_FIELDS: Final = frozenset({"name"})
FORM_OVERHEAD: Final = 64 * 1024  # boundaries, part headers and text fields allowed beside the file
MAX_TEXT_FIELD_BYTES: Final = 4 * 1024
WRITE_BUFFER: Final = 1024 * 1024  # file data is written to disk (in a worker thread) by this much


class UploadError(Exception):
    """The request cannot be accepted; `status_code` and `detail` are meant for the HTTP answer."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


@dataclass(frozen=True)
class ReceivedUpload:
    path: Path  # the temporary file; the caller moves it away or calls cleanup()
    filename: str | None  # as the client named it, without any directory part
    size: int
    fields: dict[str, str] = field(default_factory=dict)  # the text fields that were asked for

    def cleanup(self) -> None:
        self.path.unlink(missing_ok=True)


async def receive_upload(
    request: Request,
    *,
    file_field: str = "file",
    max_bytes: int,
    tmp_dir: Path,
    text_fields: Set[str] = DEFAULT_TEXT_FIELDS,
    max_text_bytes: int = MAX_TEXT_FIELD_BYTES,
) -> ReceivedUpload:
    """Stream the part named `file_field` of a multipart/form-data body into a file in `tmp_dir`.

    Parts named in `text_fields` are returned in `fields` (also when sent as a small file, such as
    a `requirements.txt`), up to `max_text_bytes` each; other text parts are ignored.
    Raises `UploadError`: 415 when the body is not multipart/form-data, 413 when the file is larger
    than `max_bytes` (or the whole body larger than `max_bytes + FORM_OVERHEAD`), 422 when the file
    part is missing, a second file is sent or a text field is invalid, 400 for a malformed or
    truncated body and for a client that disconnects.
    """
    content_type, options = parse_options_header(request.headers.get("content-type"))
    if content_type != b"multipart/form-data":
        raise UploadError(415, "expected a multipart/form-data body")
    boundary = options.get(b"boundary")
    if not boundary:
        raise UploadError(400, "the multipart/form-data content type has no boundary")
    # FORM_OVERHEAD already covers text fields of the default size; larger ones widen it.
    extra_text = max(0, max_text_bytes - MAX_TEXT_FIELD_BYTES) * len(text_fields)
    body_limit = max_bytes + FORM_OVERHEAD + extra_text
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise UploadError(400, "invalid Content-Length header")
        if int(declared) > body_limit:
            raise _too_large(max_bytes)

    tmp = await anyio.to_thread.run_sync(_create_temporary, tmp_dir)
    receiver = _Receiver(file_field, text_fields, max_bytes, tmp, max_text_bytes)
    parser = MultipartParser(boundary, receiver.callbacks())
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > body_limit:
                raise _too_large(max_bytes)
            parser.write(chunk)
            if receiver.buffered >= WRITE_BUFFER:
                await anyio.to_thread.run_sync(receiver.flush)
            if receiver.ended:
                break  # the closing boundary: whatever follows is epilogue
        parser.finalize()
        if not receiver.ended:
            raise UploadError(400, "the multipart body ended before its closing boundary")
        if not receiver.file_seen:
            raise UploadError(422, f"field {file_field!r} is required")
        await anyio.to_thread.run_sync(receiver.flush)
        await anyio.to_thread.run_sync(tmp.close)
    except MultipartParseError as exc:
        _discard(tmp)
        raise UploadError(400, f"malformed multipart body: {exc}") from None
    except ClientDisconnect:
        _discard(tmp)
        raise UploadError(400, "the client disconnected before the upload finished") from None
    except BaseException:
        _discard(tmp)
        raise
    return ReceivedUpload(
        path=Path(tmp.name), filename=receiver.filename, size=receiver.size, fields=receiver.fields
    )


def _too_large(max_bytes: int) -> UploadError:
    return UploadError(413, f"file is larger than the {max_bytes}-byte limit")


def _create_temporary(tmp_dir: Path) -> IO[bytes]:
    tmp_dir.mkdir(parents=True, exist_ok=True)
    return tempfile.NamedTemporaryFile(dir=tmp_dir, prefix="upload-", suffix=".part", delete=False)


def _discard(tmp: IO[bytes]) -> None:
    """Close and remove the temporary file (synchronously: this also runs while being cancelled)."""
    tmp.close()
    Path(tmp.name).unlink(missing_ok=True)


class _Receiver:
    """The parser's callbacks: route each part's bytes to the file, a text field, or nowhere."""

    def __init__(
        self, file_field: str, text_fields: Set[str], max_bytes: int, tmp: IO[bytes], max_text_bytes: int
    ) -> None:
        self.file_field, self.text_fields, self.max_bytes, self.tmp = file_field, text_fields, max_bytes, tmp
        self.max_text_bytes = max_text_bytes
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.file_seen = self.ended = False
        self.size = 0
        self.buffered = 0
        self._pending: list[bytes] = []
        self._headers: dict[str, str] = {}
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._kind = "skip"  # of the current part: "file", "text" or "skip"
        self._name = ""
        self._text = bytearray()

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._headers.clear,
            "on_header_field": lambda data, start, end: self._header_name.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
            "on_end": self._on_end,
        }

    def flush(self) -> None:
        """Write the buffered file data (called in a worker thread)."""
        data, self._pending, self.buffered = b"".join(self._pending), [], 0
        self.tmp.write(data)

    def _on_header_end(self) -> None:
        name = self._header_name.decode("latin-1").strip().lower()
        self._headers[name] = self._header_value.decode("latin-1").strip()
        self._header_name.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition"))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if self._name in self.text_fields and self._name != self.file_field:
            self._kind = "text"
            self._text.clear()
        elif self._name == self.file_field or filename is not None:
            if self._name != self.file_field:
                raise UploadError(
                    422, f"unexpected file in field {self._name!r}: send it as {self.file_field!r}"
                )
            if self.file_seen:
                raise UploadError(422, "only one file may be uploaded")
            self._kind, self.file_seen = "file", True
            if filename:
                base = filename.decode("utf-8", "replace").replace("\\", "/").rsplit("/", 1)[-1]
                self.filename = base.strip() or None
        else:
            self._kind = "skip"

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._kind == "file":
            self.size += end - start
            if self.size > self.max_bytes:
                raise _too_large(self.max_bytes)
            self._pending.append(data[start:end])
            self.buffered += end - start
        elif self._kind == "text":
            self._text.extend(data[start:end])
            if len(self._text) > self.max_text_bytes:
                raise UploadError(422, f"field {self._name!r} is longer than {self.max_text_bytes} bytes")

    def _on_part_end(self) -> None:
        if self._kind == "text":
            try:
                self.fields[self._name] = self._text.decode("utf-8")
            except UnicodeDecodeError:
                raise UploadError(422, f"field {self._name!r} is not UTF-8 text") from None
        self._kind = "skip"

    def _on_end(self) -> None:
        self.ended = True
