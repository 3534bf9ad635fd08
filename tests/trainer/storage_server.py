"""A loopback HTTP server standing in for signed-URL storage: GET serves registered bodies, PUT records
what it receives, and either can be told to answer an error status a number of times first."""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

SIGNATURE = "sig=S3CR3T-signature-0123456789abcdef&expires=4102444800"


@dataclass
class Upload:
    body: bytes
    content_type: str | None
    content_length: str | None


@dataclass
class StorageServer:
    base_url: str = ""
    objects: dict[str, bytes] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path with query)
    failures: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(list))
    delays: dict[str, float] = field(default_factory=dict)  # path → seconds before a GET answers
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.objects.clear()
            self.uploads.clear()
            self.requests.clear()
            self.failures.clear()
            self.delays.clear()

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}?{SIGNATURE}"

    def add(self, body: bytes, name: str = "data.csv") -> str:
        """Register a dataset; its signed URL."""
        path = f"/datasets/{uuid.uuid4().hex}/{name}"
        self.objects[path] = body
        return self.url(path)

    def fail(self, method: str, url: str, *statuses: int) -> None:
        """Answer `statuses`, one per request, to the next requests for `url`."""
        self.failures[(method, urlsplit(url).path)].extend(statuses)

    def delay(self, url: str, seconds: float) -> None:
        self.delays[urlsplit(url).path] = seconds

    def count(self, method: str, url: str | None = None) -> int:
        path = urlsplit(url).path if url else None
        return sum(1 for m, p in self.requests if m == method and (path is None or urlsplit(p).path == path))

    def upload(self, url: str) -> Upload | None:
        return self.uploads.get(urlsplit(url).path)


def _handler(state: StorageServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _answer(self, status: int, body: bytes = b"", content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _injected(self, method: str) -> bool:
            path = urlsplit(self.path).path
            with state.lock:
                state.requests.append((method, self.path))
                pending = state.failures.get((method, path))
                status = pending.pop(0) if pending else None
            if status is None:
                return False
            if method == "PUT":
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
            detail = b'{"detail": "signature does not match"}' if status == 403 else b"oops"
            self._answer(status, detail)
            return True

        def do_GET(self) -> None:
            if self._injected("GET"):
                return
            time.sleep(state.delays.get(urlsplit(self.path).path, 0.0))
            body = state.objects.get(urlsplit(self.path).path)
            if body is None:
                self._answer(404, b'{"detail": "object not found"}')
                return
            self._answer(200, body, "text/csv")

        def do_PUT(self) -> None:
            if self._injected("PUT"):
                return
            length = self.headers.get("Content-Length")
            body = self.rfile.read(int(length or 0))
            with state.lock:
                state.uploads[urlsplit(self.path).path] = Upload(
                    body, self.headers.get("Content-Type"), length
                )
            self._answer(200, b'{"ok": true}')

    return Handler


def start() -> tuple[StorageServer, ThreadingHTTPServer]:
    state = StorageServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, name="storage-server", daemon=True).start()
    return state, server
