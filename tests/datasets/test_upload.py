"""receive_upload through a real FastAPI app (httpx ASGITransport streams the body lazily, so the
tests can see how much of it the server pulled) and directly with hand-made ASGI messages."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from podml.datasets.upload import FORM_OVERHEAD, ReceivedUpload, UploadError, receive_upload

BOUNDARY = "----podml-test-boundary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
CHUNK = 64 * 1024


def part(name: str, data: bytes = b"", filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
    if filename is not None:
        head += "Content-Type: text/csv\r\n"
    return (head + "\r\n").encode() + data + b"\r\n"


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def file_head(name: str = "file", filename: str = "data.csv") -> bytes:
    """The start of a file part, for bodies whose file data is streamed."""
    return part(name, filename=filename)[:-2]


class Body:
    """A streamed request body that counts how many chunks the server pulled."""

    def __init__(self, prefix: bytes, file_chunks: Iterator[bytes], suffix: bytes = b"") -> None:
        self.prefix, self.file_chunks, self.suffix = prefix, file_chunks, suffix
        self.pulled = 0
        self.watch: Path | None = None
        self.sizes_on_disk: list[int] = []

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.pulled += 1
        yield self.prefix
        for chunk in self.file_chunks:
            self.pulled += 1
            if self.watch is not None:
                self.sizes_on_disk.append(sum(p.stat().st_size for p in self.watch.iterdir()))
            yield chunk
        yield self.suffix


def zeros(total: int) -> Iterator[bytes]:
    for start in range(0, total, CHUNK):
        yield b"0" * min(CHUNK, total - start)


@pytest.fixture
def tmp_dir(tmp_path: Path) -> Path:
    return tmp_path / "uploads"


def leftovers(tmp_dir: Path) -> list[str]:
    return sorted(p.name for p in tmp_dir.iterdir()) if tmp_dir.exists() else []


def make_app(tmp_dir: Path, max_bytes: int, **options: Any) -> FastAPI:
    app = FastAPI()

    @app.post("/upload")
    async def upload(request: Request) -> JSONResponse:
        try:
            received = await receive_upload(request, max_bytes=max_bytes, tmp_dir=tmp_dir, **options)
        except UploadError as exc:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        data = await asyncio.to_thread(received.path.read_bytes)
        answer = {
            "filename": received.filename,
            "size": received.size,
            "fields": received.fields,
            "sha256": hashlib.sha256(data).hexdigest(),
            "in_tmp_dir": received.path.parent == tmp_dir,
        }
        received.cleanup()
        return JSONResponse(answer)

    return app


async def post(app: FastAPI, content: bytes | Body, headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post(
            "/upload", content=content, headers={"content-type": CONTENT_TYPE, **(headers or {})}
        )


# --- accepted uploads -----------------------------------------------------------------------------


async def test_file_and_name_are_received(tmp_dir: Path) -> None:
    data = b"a,b\n1,2\n"
    app = make_app(tmp_dir, max_bytes=1000)
    response = await post(app, body(part("name", b"My data"), part("file", data, "data.csv")))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "filename": "data.csv",
        "size": len(data),
        "fields": {"name": "My data"},
        "sha256": hashlib.sha256(data).hexdigest(),
        "in_tmp_dir": True,
    }
    assert leftovers(tmp_dir) == []  # the route cleaned up


async def test_httpx_multipart_encoding(tmp_dir: Path) -> None:
    """The body a real client library builds, with its own boundary."""
    data = "x,y\n1,é\n".encode()
    transport = httpx.ASGITransport(app=make_app(tmp_dir, max_bytes=1000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post(
            "/upload", files={"file": ("données.csv", data, "text/csv")}, data={"name": "Été", "x": "y"}
        )
    assert response.status_code == 200, response.text
    assert response.json()["filename"] == "données.csv"
    assert response.json()["fields"] == {"name": "Été"}  # "x" was not asked for
    assert response.json()["sha256"] == hashlib.sha256(data).hexdigest()


async def test_large_file_is_streamed_to_disk_while_it_arrives(tmp_dir: Path) -> None:
    total = 5 * 1024 * 1024 + 123
    stream = Body(file_head(), zeros(total), b"\r\n" + body())
    stream.watch = tmp_dir
    tmp_dir.mkdir()
    response = await post(make_app(tmp_dir, max_bytes=10 * 1024 * 1024), stream)
    assert response.status_code == 200, response.text
    assert response.json()["size"] == total
    assert response.json()["sha256"] == hashlib.sha256(b"0" * total).hexdigest()
    # Before the body ended, megabytes were already in the file: nothing buffered it whole.
    assert max(stream.sizes_on_disk) >= 3 * 1024 * 1024


async def test_file_exactly_at_the_limit(tmp_dir: Path) -> None:
    response = await post(make_app(tmp_dir, max_bytes=100), body(part("file", b"x" * 100, "a.csv")))
    assert response.status_code == 200
    assert response.json()["size"] == 100


async def test_empty_file_part(tmp_dir: Path) -> None:
    response = await post(make_app(tmp_dir, max_bytes=100), body(part("file", b"", "empty.csv")))
    assert response.status_code == 200
    assert response.json()["size"] == 0


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("C:\\Users\\ada\\data.csv", "data.csv"), ("dir/sub/d.csv", "d.csv"), ("", None), ("  ", None)],
)
async def test_filename_loses_directories(tmp_dir: Path, sent: str, kept: str | None) -> None:
    response = await post(make_app(tmp_dir, max_bytes=100), body(part("file", b"a\n1\n", sent)))
    assert response.json()["filename"] == kept


async def test_custom_file_field_and_text_fields(tmp_dir: Path) -> None:
    app = make_app(tmp_dir, max_bytes=100, file_field="model", text_fields={"tag", "note"})
    content = body(part("tag", b"v1"), part("note", b"hi"), part("name", b"x"), part("model", b"m", "m.pkl"))
    response = await post(app, content)
    assert response.status_code == 200, response.text
    assert response.json()["fields"] == {"tag": "v1", "note": "hi"}


async def test_epilogue_after_the_closing_boundary_is_not_read(tmp_dir: Path) -> None:
    stream = Body(body(part("file", b"a\n1\n", "a.csv")), zeros(100 * CHUNK))
    response = await post(make_app(tmp_dir, max_bytes=100), stream)
    assert response.status_code == 200
    assert stream.pulled <= 2


# --- refused uploads ------------------------------------------------------------------------------


async def test_over_the_limit_is_cut_off_early(tmp_dir: Path) -> None:
    limit = 1024 * 1024
    stream = Body(file_head(), zeros(1024 * 1024 * 1024), b"\r\n" + body())  # 1 GiB, never sent whole
    response = await post(make_app(tmp_dir, max_bytes=limit), stream)
    assert response.status_code == 413
    assert response.json() == {"detail": f"file is larger than the {limit}-byte limit"}
    assert stream.pulled <= limit // CHUNK + 3
    assert leftovers(tmp_dir) == []


async def test_over_the_limit_by_content_length_reads_nothing(tmp_dir: Path) -> None:
    limit = 1024 * 1024
    stream = Body(file_head(), zeros(1024 * 1024 * 1024), b"\r\n" + body())
    declared = str(limit + FORM_OVERHEAD + 1)
    response = await post(make_app(tmp_dir, max_bytes=limit), stream, {"content-length": declared})
    assert response.status_code == 413
    assert response.json() == {"detail": f"file is larger than the {limit}-byte limit"}
    assert stream.pulled == 0
    assert leftovers(tmp_dir) == []


async def test_one_byte_over_the_limit(tmp_dir: Path) -> None:
    response = await post(make_app(tmp_dir, max_bytes=100), body(part("file", b"x" * 101, "a.csv")))
    assert response.status_code == 413
    assert leftovers(tmp_dir) == []


async def test_huge_ignored_field_counts_against_the_body_limit(tmp_dir: Path) -> None:
    stream = Body(part("junk")[:-2], zeros(10 * 1024 * 1024))  # a 10 MiB text field nobody asked for
    response = await post(make_app(tmp_dir, max_bytes=1000), stream)
    assert response.status_code == 413
    assert stream.pulled <= FORM_OVERHEAD // CHUNK + 3
    assert leftovers(tmp_dir) == []


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/csv", "application/x-www-form-urlencoded", ""]
)
async def test_wrong_content_type(tmp_dir: Path, content_type: str) -> None:
    response = await post(make_app(tmp_dir, max_bytes=100), b"a,b\n1,2\n", {"content-type": content_type})
    assert response.status_code == 415
    assert response.json() == {"detail": "expected a multipart/form-data body"}
    assert leftovers(tmp_dir) == []


async def test_multipart_without_boundary(tmp_dir: Path) -> None:
    response = await post(make_app(tmp_dir, max_bytes=100), b"x", {"content-type": "multipart/form-data"})
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("content", "status", "detail"),
    [
        (body(part("name", b"n")), 422, "field 'file' is required"),
        (body(), 422, "field 'file' is required"),
        (
            body(part("file", b"1", "a.csv"), part("file", b"2", "b.csv")),
            422,
            "only one file may be uploaded",
        ),
        (
            body(part("file", b"1", "a.csv"), part("extra", b"2", "b.csv")),
            422,
            "unexpected file in field 'extra': send it as 'file'",
        ),
        (
            body(part("name", b"x" * 5000), part("file", b"1", "a.csv")),
            422,
            "field 'name' is longer than 4096 bytes",
        ),
        (body(part("name", b"\xff\xfe"), part("file", b"1", "a.csv")), 422, "field 'name' is not UTF-8 text"),
        (
            body(part("file", b"a,b\n", "a.csv"))[:-10],
            400,
            "the multipart body ended before its closing boundary",
        ),
        (b"", 400, "the multipart body ended before its closing boundary"),
    ],
)
async def test_refused(tmp_dir: Path, content: bytes, status: int, detail: str) -> None:
    response = await post(make_app(tmp_dir, max_bytes=1000), content)
    assert response.status_code == status
    assert response.json() == {"detail": detail}
    assert leftovers(tmp_dir) == []


async def test_malformed_body(tmp_dir: Path) -> None:
    response = await post(make_app(tmp_dir, max_bytes=1000), b"this is not multipart at all")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("malformed multipart body")
    assert leftovers(tmp_dir) == []


# --- without HTTP: disconnects and cancellation ---------------------------------------------------


def asgi_request(messages: list[dict[str, Any]], blocker: asyncio.Event | None = None) -> Request:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/upload",
        "query_string": b"",
        "headers": [(b"content-type", CONTENT_TYPE.encode())],
    }

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await (blocker or asyncio.Event()).wait()
        return {"type": "http.disconnect"}

    return Request(scope, receive)


async def test_client_disconnect_removes_the_file(tmp_dir: Path) -> None:
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": file_head() + b"0" * 5000, "more_body": True},
        {"type": "http.disconnect"},
    ]
    with pytest.raises(UploadError) as caught:
        await receive_upload(asgi_request(messages), max_bytes=10_000, tmp_dir=tmp_dir)
    assert caught.value.status_code == 400
    assert caught.value.detail == "the client disconnected before the upload finished"
    assert leftovers(tmp_dir) == []


async def test_cancelled_upload_removes_the_file(tmp_dir: Path) -> None:
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": file_head() + b"0" * 5000, "more_body": True}
    ]
    task = asyncio.create_task(receive_upload(asgi_request(messages), max_bytes=10_000, tmp_dir=tmp_dir))
    for _ in range(200):
        if leftovers(tmp_dir) and not messages:
            break
        await asyncio.sleep(0.01)
    assert len(leftovers(tmp_dir)) == 1  # the upload is under way
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert leftovers(tmp_dir) == []


async def test_received_upload_cleanup(tmp_dir: Path) -> None:
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": body(part("file", b"abc", "a.csv")), "more_body": False}
    ]
    received = await receive_upload(asgi_request(messages), max_bytes=10, tmp_dir=tmp_dir)
    assert isinstance(received, ReceivedUpload)
    assert received.path.read_bytes() == b"abc"
    assert (received.filename, received.size, received.fields) == ("a.csv", 3, {})
    received.cleanup()
    received.cleanup()  # idempotent
    assert leftovers(tmp_dir) == []


async def test_a_text_field_may_arrive_as_a_small_file(tmp_dir: Path) -> None:
    """`curl -F model=@model.joblib -F requirements=@requirements.txt`: the second part is text."""
    app = make_app(
        tmp_dir, max_bytes=100, file_field="model", text_fields={"requirements"}, max_text_bytes=64
    )
    requirements = b"numpy>=1.20\nscikit-learn\n"
    ok = await post(
        app,
        body(part("model", b"\x80\x04pickled", "model.joblib"), part("requirements", requirements, "r.txt")),
    )
    assert ok.status_code == 200
    assert ok.json()["fields"] == {"requirements": requirements.decode()}
    assert ok.json()["filename"] == "model.joblib"
    too_long = await post(app, body(part("model", b"x", "m"), part("requirements", b"x" * 65, "r.txt")))
    assert too_long.status_code == 422
    assert "longer than 64 bytes" in too_long.json()["detail"]
    assert leftovers(tmp_dir) == []
