"""A bare ASGI hello endpoint: the machine-speed reference of `bench/serving.py`.

    uvicorn hello:app --app-dir bench/serving_peers --lifespan off --loop uvloop --http httptools

No framework, no JSON: what uvicorn itself can answer on one core, the ceiling for any Python
model server run the same way.
"""

from typing import Any

_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"5")],
}
_BODY = {"type": "http.response.body", "body": b"hello"}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await send(_START)
        await send(_BODY)
