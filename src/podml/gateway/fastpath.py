"""The prediction calls' fast path: plain ASGI in front of the FastAPI application.

`POST /api/v1/predict/{deployment_id}` and `POST /v2/models/{deployment_id}/infer` are the gateway's
hot path. Through FastAPI each one paid for routing, dependency resolution, request and response
objects and the request-metrics middleware: about a millisecond per call, several times the model's
own time for a single row. This middleware answers them before all that, with the same access rules
(`Access.authorize`), the same proxy and the same answers (errors as `{"detail": ...}`, or
`{"error": ...}` on `/v2`). Every other request, and any prediction path that does not hold a valid
deployment id (FastAPI then gives its usual 422/404), goes to the application unchanged. The FastAPI
routes for these paths stay: they document the calls in the OpenAPI schema.

Prediction calls are counted per deployment by the gateway (`podml_gateway_requests_total`,
`podml_gateway_request_latency_ms`, `GET /api/deployments/{id}/stats`), not in `podml_http_*`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

import orjson

from podml.errors import DomainError
from podml.gateway.access import DeploymentNotFound
from podml.gateway.gateway import Gateway

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES: Final = 64 << 20  # as the model server's own default
PREDICT_PREFIX: Final = "/api/v1/predict/"
V2_PREFIX: Final = "/v2/models/"
V2_INFER: Final = "/infer"
_UUID_LENGTH: Final = 36


class _TooLarge(DomainError):
    status_code = 413


def route(path: str) -> tuple[uuid.UUID, str, bool] | None:
    """(deployment id, the replica's path, whether it is a V2 call) for a prediction path."""
    if path.startswith(PREDICT_PREFIX):
        name, upstream, v2 = path[len(PREDICT_PREFIX) :], "/predict", False
    elif path.startswith(V2_PREFIX) and path.endswith(V2_INFER):
        name, v2 = path[len(V2_PREFIX) : -len(V2_INFER)], True
        upstream = ""
    else:
        return None
    if len(name) != _UUID_LENGTH:
        return None
    try:
        deployment_id = uuid.UUID(name)
    except ValueError:
        return None
    return deployment_id, upstream or f"{V2_PREFIX}{deployment_id}{V2_INFER}", v2


async def read_body(receive: Receive, limit: int = MAX_BODY_BYTES) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False) and len(body) <= limit:
        return body
    chunks = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            break
        chunks.append(chunk)
    if size > limit:
        shown = f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit} bytes"
        raise _TooLarge(f"the body is larger than {shown}")
    return b"".join(chunks)


class PredictFastPath:
    """ASGI middleware: prediction calls straight to the gateway, the rest to `app`."""

    def __init__(self, app: ASGIApp, gateway: Callable[[], Gateway]) -> None:
        self.app = app
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = route(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if found is None:
            await self.app(scope, receive, send)
            return
        deployment_id, upstream, v2 = found
        authorization = debug_sub = content_type = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                authorization = value.decode("latin-1")
            elif key == b"content-type":
                content_type = value.decode("latin-1")
            elif key == b"x-debug-sub":
                debug_sub = value.decode("latin-1")
        gateway = self.gateway()
        try:
            target = await gateway.access.authorize(deployment_id, authorization, debug_sub)
            body = await read_body(receive)
        except DomainError as exc:
            await _send_error(send, exc, v2, deployment_id)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        answer = await gateway.proxy.forward(target, "POST", upstream, query, body, content_type, v2)
        headers = [
            (b"content-type", answer.content_type.encode("latin-1")),
            (b"content-length", str(len(answer.body)).encode()),
        ]
        for key, value in (answer.headers or {}).items():
            headers.append((key.lower().encode("latin-1"), value.encode("latin-1")))
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})


async def _send_error(send: Send, exc: DomainError, v2: bool, deployment_id: uuid.UUID) -> None:
    if v2 and isinstance(exc, DeploymentNotFound):
        document: dict[str, Any] = {"error": f"model '{deployment_id}' not found"}
    else:
        document = {"error": exc.detail} if v2 else {"detail": exc.detail}
    body = orjson.dumps(document)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    for key, value in (exc.headers or {}).items():
        headers.append((key.lower().encode("latin-1"), value.encode("latin-1")))
    await send({"type": "http.response.start", "status": exc.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
