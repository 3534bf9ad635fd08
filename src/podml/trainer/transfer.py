"""HTTP transfers to and from signed URLs: stream the dataset down, stream the outputs up.

A signed URL is a credential: only `redact(url)` (scheme, host and path, no query string and no user
info) is ever logged or put into an error. Connection failures, timeouts, 408, 429 and 5xx answers are
retried after `RETRY_DELAYS`; any other answer fails at once with a reason naming the status.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit, urlunsplit

import httpx

from podml.trainer.errors import StorageError

# Seconds between attempts: about a minute in all, so a job rides out a restart of whatever serves
# its signed URLs (the platform itself, for local storage; MinIO or a proxy in a cluster).
RETRY_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0)
TIMEOUT = httpx.Timeout(60.0, connect=10.0)  # per network operation, not for the whole transfer
CHUNK_SIZE = 1 << 20
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

Log = Callable[[str], None]


class _Retry(Exception):
    """A transient failure worth another attempt."""


def redact(url: str) -> str:
    """The URL without its query string, fragment and user info: safe to log."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _explain(response: httpx.Response) -> str:
    """A short reason from the body of an error answer: a JSON `detail` or an S3 `<Code>`."""
    try:
        body = response.read()[:4096].decode("utf-8", "replace")
    except httpx.HTTPError:
        return ""
    detail: Any = None
    try:
        data = json.loads(body)
        detail = data.get("detail") if isinstance(data, dict) else None
    except json.JSONDecodeError:
        match = re.search(r"<Code>([^<]{1,100})</Code>", body)
        detail = match.group(1) if match else None
    if not isinstance(detail, str) or not detail.strip():
        return ""
    return ": " + " ".join(detail.split())[:200]


def _status_error(what: str, url: str, response: httpx.Response) -> StorageError:
    status = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    where = redact(url)
    detail = _explain(response)
    if response.status_code == 403:
        return StorageError(
            f"{what} was refused ({status}) at {where}{detail}; the signed URL may have expired "
            "or been signed for another method"
        )
    if response.status_code == 404:
        return StorageError(f"{what}: nothing found ({status}) at {where}{detail}")
    if response.status_code == 413:
        return StorageError(f"{what} was refused as too large ({status}) at {where}{detail}")
    return StorageError(f"{what} failed ({status}) at {where}{detail}")


def _attempts(what: str, url: str, action: Callable[[], None], log: Log) -> None:
    """Run `action`, retrying transient failures; raise StorageError when out of attempts."""
    attempt = 0
    while True:
        try:
            action()
            return
        except (_Retry, httpx.TransportError) as exc:
            reason = str(exc) or type(exc).__name__
            if isinstance(exc, httpx.TimeoutException):
                reason = f"timed out ({type(exc).__name__})"
            elif isinstance(exc, httpx.TransportError):
                reason = f"{type(exc).__name__}: {reason}"
            if attempt >= len(RETRY_DELAYS):
                raise StorageError(
                    f"{what} failed after {attempt + 1} attempts at {redact(url)}: {reason}"
                ) from None
            delay = RETRY_DELAYS[attempt]
            attempt += 1
            attempts = len(RETRY_DELAYS) + 1
            log(f"{what}: {reason}; retrying in {delay:g} s (attempt {attempt + 1} of {attempts})")
            time.sleep(delay)


def client() -> httpx.Client:
    """One client for a job's transfers (creating one costs ~15 ms: it loads the CA bundle)."""
    return httpx.Client(timeout=TIMEOUT, follow_redirects=False)


def download(http: httpx.Client, url: str, destination: Path, log: Log) -> int:
    """Stream `url` into `destination` (never whole in memory); the number of bytes written."""
    written = 0

    def once() -> None:
        nonlocal written
        with http.stream("GET", url, follow_redirects=True) as response:
            if response.status_code in _RETRY_STATUSES:
                raise _Retry(f"HTTP {response.status_code} {response.reason_phrase}".strip())
            if response.status_code != 200:
                raise _status_error("downloading the dataset", url, response)
            written = 0
            with destination.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
                    written += len(chunk)

    _attempts("downloading the dataset", url, once, log)
    return written


def upload(http: httpx.Client, url: str, source: Path | bytes, content_type: str, what: str, log: Log) -> int:
    """PUT `source` (a file, streamed, or bytes) to `url`; the number of bytes sent."""
    size = source.stat().st_size if isinstance(source, Path) else len(source)
    headers = {"Content-Type": content_type, "Content-Length": str(size)}

    def once() -> None:
        if isinstance(source, Path):
            with source.open("rb") as body:
                response = http.put(url, content=_chunks(body), headers=headers)
        else:
            response = http.put(url, content=source, headers=headers)
        if response.status_code in _RETRY_STATUSES:
            raise _Retry(f"HTTP {response.status_code} {response.reason_phrase}".strip())
        if not 200 <= response.status_code < 300:
            raise _status_error(f"uploading the {what}", url, response)

    _attempts(f"uploading the {what}", url, once, log)
    return size


def _chunks(body: BinaryIO) -> Iterator[bytes]:
    while chunk := body.read(CHUNK_SIZE):
        yield chunk
