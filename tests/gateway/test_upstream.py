"""The gateway's keep-alive connections to replicas, against a real uvicorn server on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from podml.gateway.upstream import UpstreamPool, UpstreamUnavailable
from tests.support.server import free_port


class Replica:
    """A small ASGI app that echoes, sleeps on /slow and counts the connections it was given."""

    def __init__(self) -> None:
        self.connections: set[Any] = set()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.connections.add(scope["client"])
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] == "/slow":
            await asyncio.sleep(2)
        status = 422 if scope["path"] == "/bad" else 200
        answer = b'{"echo":' + (body or b"null") + b',"path":"' + scope["path"].encode() + b'"}'
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": answer})


@pytest.fixture
async def replica() -> AsyncIterator[tuple[str, Replica, uvicorn.Server]]:
    app = Replica()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", timeout_keep_alive=1)
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):  # uvicorn has no start event: poll its flag
        if server.started:
            break
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}", app, server
    server.should_exit = True
    await task


async def test_answers_pass_through_and_connections_are_reused(replica: tuple[str, Replica, Any]) -> None:
    base, app, _ = replica
    pool = UpstreamPool(timeout=5)
    try:
        for i in range(20):
            reply = await pool.request(base, "POST", f"/predict?n={i}", b"[1,2]", "application/json")
            assert (reply.status, reply.content_type) == (200, "application/json")
            assert reply.body == b'{"echo":[1,2],"path":"/predict"}'
        bad = await pool.request(base, "POST", "/bad", b"{}", "application/json")
        assert bad.status == 422  # the replica's 4xx is an answer, not a failure
        assert len(app.connections) == 1  # one keep-alive connection for 21 sequential calls

        big = b"[" + b",".join(b"1.5" for _ in range(200_000)) + b"]"
        assert (await pool.request(base, "POST", "/p", big, "application/json")).body.startswith(
            b'{"echo":[1.5,'
        )

        together = await asyncio.gather(*(pool.request(base, "GET", "/x", b"", None) for _ in range(8)))
        assert all(reply.status == 200 for reply in together)
        assert len(app.connections) <= 9
    finally:
        pool.close()


async def test_a_connection_the_replica_closed_while_idle_is_replaced(
    replica: tuple[str, Replica, Any],
) -> None:
    base, app, _ = replica
    pool = UpstreamPool(timeout=5)
    try:
        assert (await pool.request(base, "GET", "/a", b"", None)).status == 200
        await asyncio.sleep(1.6)  # past the replica's keep-alive timeout: it closes the connection
        assert (await pool.request(base, "GET", "/b", b"", None)).status == 200
        assert len(app.connections) == 2
    finally:
        pool.close()


async def test_refused_and_silent_replicas(replica: tuple[str, Replica, Any]) -> None:
    base, _, _ = replica
    pool = UpstreamPool(timeout=0.5)
    try:
        with pytest.raises(UpstreamUnavailable, match="could not connect"):
            await pool.request(f"http://127.0.0.1:{free_port()}", "GET", "/", b"", None)
        with pytest.raises(TimeoutError):
            await pool.request(base, "GET", "/slow", b"", None)
        assert (await pool.request(base, "GET", "/after", b"", None)).status == 200
    finally:
        pool.close()


async def test_a_reset_mid_answer_is_unavailable() -> None:
    """A replica that dies after reading the request: no answer, safe to retry elsewhere."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    port = listener.getsockname()[1]

    async def die_after_reading() -> None:
        loop = asyncio.get_running_loop()
        conn, _ = await loop.sock_accept(listener)
        await loop.sock_recv(conn, 65536)
        await loop.sock_sendall(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        conn.close()

    pool = UpstreamPool(timeout=5)
    task = asyncio.create_task(die_after_reading())
    try:
        with pytest.raises(UpstreamUnavailable, match="closed the connection"):
            await pool.request(f"http://127.0.0.1:{port}", "POST", "/predict", b"{}", "application/json")
    finally:
        await task
        pool.close()
        listener.close()


def test_the_pool_works_on_uvloop() -> None:
    """`podml serve` runs on uvloop (uvicorn's default when installed): its transports differ."""
    import uvloop

    async def walk() -> list[int]:
        app = Replica()
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
        task = asyncio.create_task(server.serve())
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        pool = UpstreamPool(timeout=5)
        try:
            base = f"http://127.0.0.1:{port}"
            return [
                (await pool.request(base, "POST", "/p", b"[1]", "application/json")).status for _ in range(3)
            ]
        finally:
            pool.close()
            server.should_exit = True
            await task

    assert uvloop.run(walk()) == [200, 200, 200]
