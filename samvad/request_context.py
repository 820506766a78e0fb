"""A request id for every HTTP request: taken from ``X-Request-ID`` or made, bound, returned.

The id is bound with ``structlog.contextvars`` for the whole request, so every log line
the request causes (uvicorn's access line included, and the core API's lines when the
bot calls it in-process) carries ``request_id``; the response echoes it in
``X-Request-ID`` so a citizen's complaint about an error can be traced.
"""

from __future__ import annotations

import re
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"
_HEADER_BYTES = HEADER.encode()
# A caller's id is taken only when it is short and plain (it ends up in every log line).
_ACCEPTABLE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id_from(scope: Scope) -> str:
    """The caller's ``X-Request-ID`` when acceptable, else a new random id."""
    for name, value in scope.get("headers", ()):
        if name == _HEADER_BYTES:
            candidate = value.decode("latin-1")
            if _ACCEPTABLE.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Pure ASGI middleware (no per-request task or body buffering)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        raw_id = request_id.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k != _HEADER_BYTES]
                headers.append((_HEADER_BYTES, raw_id))
                message["headers"] = headers
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await self.app(scope, receive, send_with_id)
