"""Request body limits: 413 with the error envelope for webhooks and the API.

Starlette's ``RequestBodyLimitMiddleware`` counts the body as it streams (and trusts no
handler to check); routes that take files raise their own limit (``max_body_size`` on the
route, e.g. photo uploads). Its early refusal is plain text, so ``EnvelopeFor413`` around
it answers those with the one error envelope instead.
"""

from __future__ import annotations

import orjson
from starlette.applications import Starlette
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BODY = orjson.dumps({"error": {
    "code": "payload_too_large", "details": None,
    "message": "The request body is larger than this endpoint accepts."}})


class EnvelopeFor413:
    """Rewrites a plain-text 413 from the body limit into the JSON error envelope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        replaced = False

        async def send_envelope(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return  # the plain-text body of the refusal we already answered
            if message["type"] == "http.response.start" and message["status"] == 413:
                content_type = dict(message.get("headers") or []).get(b"content-type", b"")
                if content_type.startswith(b"text/plain"):
                    replaced = True
                    await send({"type": "http.response.start", "status": 413, "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(_BODY)).encode())]})
                    await send({"type": "http.response.body", "body": _BODY})
                    return
            await send(message)

        await self.app(scope, receive, send_envelope)


def install_body_limit(app: Starlette, max_body_bytes: int) -> None:
    """Limit request bodies of ``app`` (a FastAPI app) to ``max_body_bytes``."""
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=max_body_bytes)
    app.add_middleware(EnvelopeFor413)
