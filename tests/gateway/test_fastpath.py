"""The prediction fast path: which paths it takes, and how it reads bodies."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from podml.errors import DomainError
from podml.gateway.fastpath import read_body, route


def test_routes_only_prediction_calls_with_a_deployment_id() -> None:
    deployment = uuid.uuid4()
    assert route(f"/api/v1/predict/{deployment}") == (deployment, "/predict", False)
    assert route(f"/v2/models/{deployment}/infer") == (deployment, f"/v2/models/{deployment}/infer", True)
    # everything else is FastAPI's: its 422 for a malformed id, its routes for the rest
    assert route("/api/v1/predict/not-a-uuid") is None
    assert route(f"/api/v1/predict/{deployment}/extra") is None
    assert route(f"/v2/models/{deployment}") is None
    assert route(f"/v2/models/{deployment}/ready") is None
    assert route("/v2/models/x/infer") is None
    assert route("/api/deployments") is None


def _receiver(chunks: list[bytes]) -> Any:
    messages = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    return receive


async def test_bodies_are_joined_and_limited() -> None:
    assert await read_body(_receiver([b'{"inst', b'ances": []}'])) == b'{"instances": []}'
    assert await read_body(_receiver([b""])) == b""
    with pytest.raises(DomainError) as too_large:
        await read_body(_receiver([b"x" * 600, b"x" * 600]), limit=1 << 10)
    assert too_large.value.status_code == 413
    with pytest.raises(DomainError):
        await read_body(_receiver([b"x" * 2000]), limit=1 << 10)


async def test_a_malformed_deployment_id_is_fastapis_422(client: Any) -> None:
    answer = await client.post("/api/v1/predict/not-a-uuid", json={"instances": [[1]]})
    assert answer.status_code == 422
    assert "uuid" in str(answer.json()["detail"]).lower()
