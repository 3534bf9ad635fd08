"""The model server's HTTP adapter: a hand-rolled ASGI callable over `DataPlane`.

No framework on the hot path (after measuring: a router, request objects and validation layers cost
more than the model for a single row). Each request is one dictionary look-up (or a split for
`/v2/models/{name}/...`), one JSON decode of the body bytes, one data-plane call, one encode and two
ASGI messages; orjson does the JSON when it is installed, the json module otherwise. Small bodies are
answered inline on the event loop (a thread hop costs 50-100 µs); bodies over `inline_max_bytes` (big
batches) are decoded, predicted and encoded in a worker thread so that `/health` keeps answering.

Errors: `{"detail": ...}` on the REST routes, `{"error": ...}` on `/v2/...` (the Open Inference
Protocol's shape); 4xx carry the reason; an unexpected exception is logged with its traceback and
answered 500 with a generic message.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from podml.serving.contract import InvalidInput
from podml.serving.dataplane import BadRequest, DataPlane, PayloadTooLarge, ServingError
from podml.serving.metrics import CONTENT_TYPE, Metrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("podml.serving")

DEFAULT_MAX_BODY_BYTES: Final = 64 << 20
DEFAULT_INLINE_MAX_BYTES: Final = 64 << 10
_JSON: Final = [(b"content-type", b"application/json")]
_METRICS: Final = [(b"content-type", CONTENT_TYPE.encode())]
_INTERNAL: Final = "internal error while predicting; the server log has the details"
_V2_PREFIX: Final = "/v2/models/"
PREDICT_ROUTE: Final = "/predict"
INFER_ROUTE: Final = "/v2/models/{name}/infer"
_PREDICTION_ROUTES: Final = frozenset({PREDICT_ROUTE, INFER_ROUTE})
_V2_ROUTES: Final = {"": "/v2/models/{name}", "ready": "/v2/models/{name}/ready", "infer": INFER_ROUTE}


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


# orjson, when installed, decodes a 1,000-row batch about 4x faster than the json module (its float
# parsing is the bulk of a big request); both paths give the same documents and the same errors.
_orjson = _optional("orjson")


def encode(document: Any) -> bytes:
    """Compact JSON; NaN and infinities (not JSON) become null."""
    if _orjson is not None:
        try:
            result: bytes = _orjson.dumps(document, option=_orjson.OPT_SERIALIZE_NUMPY)
            return result
        except TypeError:
            pass  # something orjson does not know: the json module's `default` may
    try:
        return json.dumps(document, separators=(",", ":"), allow_nan=False, default=_default).encode()
    except ValueError:
        return json.dumps(_finite(document), separators=(",", ":"), default=_default).encode()


def _default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if hasattr(value, "tolist"):
        return _finite(value.tolist())
    return value


def decode(body: bytes) -> Any:
    if not body:
        raise BadRequest("the request body is empty; expected a JSON document")
    try:
        return _orjson.loads(body) if _orjson is not None else json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None


class ServingApp:
    """ASGI 3 application: `await app(scope, receive, send)`."""

    def __init__(
        self,
        plane: DataPlane,
        metrics: Metrics | None = None,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        inline_max_bytes: int = DEFAULT_INLINE_MAX_BYTES,
        threads: int = 2,
    ) -> None:
        self.plane = plane
        self.metrics = metrics or Metrics()
        self.metrics.model_ready.set_function(lambda: 1.0 if plane.ready else 0.0)
        self.max_body_bytes = max_body_bytes
        self.inline_max_bytes = inline_max_bytes
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="predict")
        self._gets: dict[str, Callable[[], tuple[int, bytes]]] = {
            "/health": lambda: (200, b'{"status":"ok"}'),
            "/ready": self._ready,
            "/v2": lambda: (200, encode(plane.server_metadata())),
            "/v2/health/live": lambda: (200, b'{"live":true}'),
            "/v2/health/ready": lambda: (200 if plane.ready else 503, encode({"ready": plane.ready})),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            self._pool.shutdown(wait=False)
            await send({"type": "lifespan.shutdown.complete"})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        route = path
        started = time.perf_counter()
        v2 = path.startswith("/v2")
        headers = _JSON
        try:
            get = self._gets.get(path)
            if get is not None:
                _allow(method, "GET")
                status, body = get()
            elif path == PREDICT_ROUTE:
                _allow(method, "POST")
                status, body = await self._post(receive, self.plane.predict)
            elif path == "/metrics":
                _allow(method, "GET")
                status, body, headers = 200, self.metrics.render(), _METRICS
            elif path.startswith(_V2_PREFIX):
                name, _, action = path[len(_V2_PREFIX) :].partition("/")
                route = _V2_ROUTES.get(action, "other")
                status, body = await self._v2_model(method, name, action, receive)
            else:
                route = "other"
                raise _NotFound(f"no route {path}")
        except ServingError as exc:
            status, body = exc.status, _error(exc.detail, v2)
        except InvalidInput as exc:
            status, body = 422, _error(str(exc), v2)
        except _NotFound as exc:
            status, body = 404, _error(str(exc), v2)
        except Exception:
            log.exception("unexpected error answering %s %s", method, path)
            status, body = 500, _error(_INTERNAL, v2)
        headers = [*headers, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        elapsed = (time.perf_counter() - started) * 1000.0 if route in _PREDICTION_ROUTES else None
        self.metrics.record(route, status, elapsed)

    async def _v2_model(self, method: str, name: str, action: str, receive: Receive) -> tuple[int, bytes]:
        plane = self.plane
        if action == "infer":
            _allow(method, "POST")
            return await self._post(receive, lambda payload: plane.infer(name, payload))
        _allow(method, "GET")
        if action == "":
            return 200, encode(plane.model_metadata(name))
        if action == "ready":
            answer = plane.model_ready(name)
            return 200 if answer["ready"] else 503, encode(answer)
        raise _NotFound(f"no route {_V2_PREFIX}{name}/{action}")

    async def _post(self, receive: Receive, handler: Callable[[Any], dict[str, Any]]) -> tuple[int, bytes]:
        body = await self._body(receive)
        if len(body) <= self.inline_max_bytes:
            return 200, encode(handler(decode(body)))
        loop = asyncio.get_running_loop()
        return 200, await loop.run_in_executor(self._pool, lambda: encode(handler(decode(body))))

    async def _body(self, receive: Receive) -> bytes:
        message = await receive()
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            if len(body) > self.max_body_bytes:
                raise PayloadTooLarge(f"the request body is over {self.max_body_bytes} bytes")
            return body
        chunks = [body]
        size = len(body)
        while message.get("more_body", False):
            message = await receive()
            if message["type"] == "http.disconnect":
                raise BadRequest("the client disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise PayloadTooLarge(f"the request body is over {self.max_body_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _ready(self) -> tuple[int, bytes]:
        return (200 if self.plane.ready else 503), encode(self.plane.readiness())


class _NotFound(Exception):
    pass


class _MethodNotAllowed(ServingError):
    status = 405


def _allow(method: str, allowed: str) -> None:
    if method != allowed and not (allowed == "GET" and method == "HEAD"):
        raise _MethodNotAllowed(f"method {method} not allowed; use {allowed}")


def _error(detail: str, v2: bool) -> bytes:
    return encode({"error": detail} if v2 else {"detail": detail})
