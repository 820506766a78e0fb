"""One error envelope for every 4xx/5xx answer of the core API.

    APIError                    500 internal
    ├── BadRequest              400 bad_request
    ├── Unauthorized            401 unauthorized
    ├── Forbidden               403 forbidden
    ├── NotFound                404 not_found
    ├── Conflict                409 conflict
    ├── PayloadTooLarge         413 payload_too_large
    ├── UnprocessableEntity     422 validation_error (also request validation)
    ├── Locked                  423 locked
    ├── TooManyRequests         429 too_many_requests
    └── ServiceUnavailable      503 unavailable

Answer body: ``{"error": {"code": str, "message": str, "details": {...} | null}}``.
An error may carry response headers (``Retry-After`` on 423, 429 and 503).

A value module: the channels' endpoints raise these errors too, so it imports nothing else
of core_api (the lint-imports contracts in pyproject.toml keep it so).
"""

from __future__ import annotations

from typing import Any, ClassVar

import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError, DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger(__name__)


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any] | list[Any] | None = None


class ErrorEnvelope(BaseModel):
    """The shape of every error answer."""

    error: ErrorBody


class APIError(Exception):
    """Base of the core API's errors; carries an HTTP status and a stable code."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers
        if code is not None:
            self.code = code  # type: ignore[misc]  # this error's own code over its class's


class BadRequest(APIError):
    status_code = 400
    code = "bad_request"


class Unauthorized(APIError):
    status_code = 401
    code = "unauthorized"


class Forbidden(APIError):
    status_code = 403
    code = "forbidden"


class NotFound(APIError):
    status_code = 404
    code = "not_found"


class Conflict(APIError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(APIError):
    status_code = 413
    code = "payload_too_large"


class UnprocessableEntity(APIError):
    status_code = 422
    code = "validation_error"


class Locked(APIError):
    status_code = 423
    code = "locked"


class TooManyRequests(APIError):
    status_code = 429
    code = "too_many_requests"


class ServiceUnavailable(APIError):
    status_code = 503
    code = "unavailable"


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    423: "locked",
    429: "too_many_requests",
}

# Declared on routes so OpenAPI documents the envelope.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope, "description": code} for status, code in _STATUS_CODES.items()
    if status in (400, 401, 403, 404, 409, 422)
}


def envelope(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    """Build the error response."""
    body = {"error": {"code": code, "message": message, "details": jsonable_encoder(details)}}
    return JSONResponse(body, status_code=status)


def _refused_value(exc: DBAPIError) -> bool:
    """True when the database refused a value (out of range, NUL in text), not a fault."""
    if isinstance(exc, DataError):
        return True
    from asyncpg.exceptions import DataError as PgDataError  # SQLAlchemy maps it to Error

    cause: BaseException | None = exc.orig
    while cause is not None:
        if isinstance(cause, PgDataError):
            return True
        cause = cause.__cause__
    return False


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception through the one envelope."""

    @app.exception_handler(APIError)
    async def _api_error(_request: Request, exc: APIError) -> JSONResponse:
        response = envelope(exc.status_code, exc.code, exc.message, exc.details)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        return envelope(422, "validation_error", "The request is not valid.", errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        response = envelope(exc.status_code, code, str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(OverflowError)
    @app.exception_handler(DBAPIError)
    async def _unstorable(request: Request, exc: Exception) -> JSONResponse:
        # A number beyond the database's integers (an id like 10**20) or text it cannot
        # hold: the request is wrong, not the server (found by schemathesis).
        if isinstance(exc, DBAPIError) and not _refused_value(exc):
            return await _unexpected(request, exc)
        log.info("unstorable_value", path=request.url.path, error=type(exc).__name__)
        return envelope(400, "invalid_value",
                        "A value in the request is out of range or cannot be stored.")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path, error=type(exc).__name__)
        return envelope(500, "internal", "Something went wrong on our side; nothing was changed.")
