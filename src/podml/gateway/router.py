"""Prediction routes on the platform's own port: `POST /api/v1/predict/{deployment_id}` and the Open
Inference Protocol (V2) routes under `/v2/models/{deployment_id}`. They authenticate by themselves
(see `access`), so they sit on the public router; bodies go to a replica as they came, unparsed.
The two POST calls are answered by `fastpath.PredictFastPath` before FastAPI sees them; their
routes here document them in the OpenAPI schema, and answer them in an application that mounts
this router without the middleware."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from podml.errors import DomainError
from podml.gateway.access import DeploymentNotFound
from podml.gateway.fastpath import read_body
from podml.gateway.gateway import Gateway
from podml.gateway.proxy import Answer

router = APIRouter(tags=["predictions"])


class PredictRequest(BaseModel):
    """One of `instances` (rows of values in the model's feature order) or `records` (objects by
    feature name)."""

    instances: list[list[Any]] | None = Field(default=None, examples=[[[5.1, 3.5, 1.4, 0.2]]])
    records: list[dict[str, Any]] | None = Field(default=None, examples=[[{"sepal_length": 5.1}]])
    probabilities: bool = Field(default=False, description="Also return class probabilities")


class PredictResponse(BaseModel):
    predictions: list[Any]
    probabilities: list[list[float]] | None = None
    classes: list[Any] | None = None


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or wrong credentials for a private deployment"},
    404: {"description": "No such deployment, or not yours"},
    413: {"description": "The body is too large"},
    422: {"description": "The model cannot take this input (wrong features, width or values)"},
    502: {"description": "No replica could be reached"},
    503: {"description": "No replica is ready (the reason says why)"},
}
_PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": PredictRequest.model_json_schema()}},
    }
}
_INFER_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "An Open Inference Protocol (V2) inference request",
                    "required": ["inputs"],
                    "properties": {"id": {"type": "string"}, "inputs": {"type": "array", "items": {}}},
                }
            }
        },
    }
}


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def _body(request: Request) -> bytes:
    return await read_body(request.receive)


def _response(answer: Answer) -> Response:
    return Response(answer.body, answer.status, headers=answer.headers, media_type=answer.content_type)


async def _call(request: Request, deployment_id: uuid.UUID, method: str, path: str, v2: bool) -> Response:
    gateway = _gateway(request)
    headers = request.headers
    target = await gateway.access.authorize(
        deployment_id, headers.get("authorization"), headers.get("x-debug-sub")
    )
    body = await _body(request) if method == "POST" else b""
    answer = await gateway.proxy.forward(
        target, method, path, request.url.query, body, headers.get("content-type"), v2
    )
    return _response(answer)


@router.post(
    "/api/v1/predict/{deployment_id}",
    response_model=PredictResponse,
    responses=_ERRORS,
    openapi_extra=_PREDICT_BODY,
)
async def predict(deployment_id: uuid.UUID, request: Request) -> Response:
    """Predict with a deployed model: `{"instances": [[...]]}` or `{"records": [{...}]}`."""
    return await _call(request, deployment_id, "POST", "/predict", v2=False)


async def _v2(request: Request, name: str, method: str, suffix: str) -> Response:
    try:
        deployment_id = uuid.UUID(name)
    except ValueError:
        return JSONResponse({"error": f"model '{name}' not found"}, status_code=404)
    try:
        return await _call(request, deployment_id, method, f"/v2/models/{deployment_id}{suffix}", v2=True)
    except DeploymentNotFound:
        return JSONResponse({"error": f"model '{name}' not found"}, status_code=404)
    except DomainError as exc:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


@router.get("/v2/health/live")
async def v2_live() -> dict[str, bool]:
    """Open Inference Protocol: the gateway is up."""
    return {"live": True}


@router.get("/v2/health/ready")
async def v2_ready() -> dict[str, bool]:
    """Open Inference Protocol: the gateway takes calls (each model has its own readiness)."""
    return {"ready": True}


@router.get("/v2/models/{model_name}", responses=_ERRORS)
async def v2_model_metadata(model_name: str, request: Request) -> Response:
    """Open Inference Protocol: the model's inputs and outputs; the name is the deployment id."""
    return await _v2(request, model_name, "GET", "")


@router.get("/v2/models/{model_name}/ready", responses=_ERRORS)
async def v2_model_ready(model_name: str, request: Request) -> Response:
    """Open Inference Protocol: 200 when a replica of the deployment is ready."""
    return await _v2(request, model_name, "GET", "/ready")


@router.post("/v2/models/{model_name}/infer", responses=_ERRORS, openapi_extra=_INFER_BODY)
async def v2_infer(model_name: str, request: Request) -> Response:
    """Open Inference Protocol: inference with a deployed model."""
    return await _v2(request, model_name, "POST", "/infer")
