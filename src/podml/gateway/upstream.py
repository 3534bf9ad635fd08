"""Keep-alive HTTP/1.1 connections from the gateway to model-server replicas.

The gateway's upstreams are always PodML model servers (`python -m podml.serving`): they answer
every request with a `Content-Length` body and keep connections open. For that one job a general
client is mostly overhead: measured on this machine, aiohttp's client spent about 280 µs of CPU per
single-row call against 100 µs for a plain keep-alive connection, in a path whose model takes
50 µs. So each call here is one write and one parse (httptools, the parser uvicorn uses) on a pooled
asyncio connection.

Failures a caller may retry on another replica raise `UpstreamUnavailable`: the connection was
refused, or closed or reset before an answer came. A pooled connection the replica closed while it
sat idle is the usual cause of the latter, so that case is first retried once on a fresh connection
to the same replica. A call without an answer within `timeout` raises `TimeoutError`.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from typing import Final, cast
from urllib.parse import urlsplit

import httptools

MAX_IDLE_PER_REPLICA: Final = 64


class UpstreamUnavailable(ConnectionError):
    """No answer from the replica: refused, reset or closed (safe to try another replica)."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str


class _Connection(asyncio.Protocol):
    """One connection; one request at a time (no pipelining)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Reply] | None = None
        self.open = True
        self.keep_alive = True
        self.answered = False  # any byte of an answer to the current request arrived
        self._content_type = b"application/json"
        self._body: list[bytes] = []

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio.Transport subclass

    def data_received(self, data: bytes) -> None:
        self.answered = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamUnavailable(f"malformed answer from the replica: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        self._fail(UpstreamUnavailable("the replica closed the connection" + (f" ({exc})" if exc else "")))

    # -- httptools callbacks
    def on_message_begin(self) -> None:
        self._content_type = b"application/json"
        self._body = []

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"content-type":
            self._content_type = value

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
            status = self.parser.get_status_code()
            waiter.set_result(Reply(status, body, self._content_type.decode("latin-1")))

    # --
    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def send(self, request: bytes) -> asyncio.Future[Reply]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.answered = False
        self.transport.write(request)
        return self.waiter

    def close(self) -> None:
        self.open = False
        if self.transport is not None:
            self.transport.close()


class UpstreamPool:
    """Idle keep-alive connections per replica address (`http://host:port`)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._idle: dict[str, list[_Connection]] = defaultdict(list)

    async def _connect(self, base: str) -> _Connection:
        parts = urlsplit(base)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(_Connection, host, port)
        except OSError as exc:
            raise UpstreamUnavailable(f"could not connect to the replica: {exc.strerror or exc}") from exc
        return connection

    async def request(
        self, base: str, method: str, target: str, body: bytes, content_type: str | None
    ) -> Reply:
        """`method target` on the replica at `base`; the answer's status, body and content type."""
        head = f"{method} {target} HTTP/1.1\r\nHost: {base[7:] if base.startswith('http://') else base}\r\n"
        if content_type:
            head += f"Content-Type: {content_type}\r\n"
        request = f"{head}Content-Length: {len(body)}\r\n\r\n".encode("latin-1") + body
        async with asyncio.timeout(self.timeout):
            idle = self._idle[base]
            while idle:
                connection = idle.pop()
                if not connection.open:
                    continue
                try:
                    return self._done(base, connection, await connection.send(request))
                except UpstreamUnavailable:
                    connection.close()
                    if connection.answered:
                        raise
                    break  # closed while idle: once more on a fresh connection
                except BaseException:
                    connection.close()
                    raise
            self._prune()
            connection = await self._connect(base)
            try:
                return self._done(base, connection, await connection.send(request))
            except BaseException:
                connection.close()
                raise

    def _done(self, base: str, connection: _Connection, reply: Reply) -> Reply:
        idle = self._idle[base]
        if connection.keep_alive and connection.open and len(idle) < MAX_IDLE_PER_REPLICA:
            idle.append(connection)
        else:
            connection.close()
        return reply

    def _prune(self) -> None:
        """Drop the entries of replicas whose every pooled connection has closed (stopped ones)."""
        for base in [b for b, idle in self._idle.items() if not any(c.open for c in idle)]:
            del self._idle[base]

    def forget(self, base: str) -> None:
        for connection in self._idle.pop(base, []):
            connection.close()

    def close(self) -> None:
        for base in list(self._idle):
            self.forget(base)
