"""Domain errors: services raise these; one handler turns them into `{"detail": ...}` responses."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


class DomainError(Exception):
    status_code = 400
    detail: Any = "bad request"
    headers: dict[str, str] | None = None

    def __init__(self, detail: Any = None, *, status_code: int | None = None) -> None:
        if detail is not None:
            self.detail = detail
        if status_code is not None:
            self.status_code = status_code
        super().__init__(str(self.detail))


class NotFound(DomainError):
    status_code = 404
    detail = "not found"


class Conflict(DomainError):
    status_code = 409
    detail = "conflict"


class Invalid(DomainError):
    status_code = 422
    detail = "invalid request"


class Unauthorized(DomainError):
    status_code = 401
    detail = "not authenticated"
    headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(DomainError):
    status_code = 403
    detail = "forbidden"


class TooManyRequests(DomainError):
    status_code = 429
    detail = "too many requests"


class ServiceUnavailable(DomainError):
    status_code = 503
    detail = "service unavailable"


async def _handle(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _handle)
