"""The bot's only door to the core API: HTTP with httpx, as the service acting for a number.

In embedded mode the transport is ``httpx.ASGITransport`` over the same process's app;
in a deployment it is a base URL. Every failure becomes a ``ServiceError`` the engine
turns into "we could not do that now, nothing was lost, try again".
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from bot.services import ServiceError
from bot.session import Session

DEFAULT_TIMEOUT = httpx.Timeout(5.0, connect=2.0)
REFERENCE_TTL_S = 300.0  # complaint types and tenants change rarely



@dataclass(frozen=True)
class CallContext:
    """Who a call is for: the conversation's session and its verified number.

    ``request_key`` is the same each time one inbound message is handled (None when the
    message has no id): a write that must happen once per message sends it as its
    ``Idempotency-Key``, so a turn run again after a worker died does not do it twice.
    """

    session: Session
    phone: str
    request_key: str | None = None


def request_key(channel: str, sender: str, message_id: str | None) -> str | None:
    """The idempotency key of one inbound message: a digest (provider ids vary in form, and
    the key names neither the number nor the id)."""
    if not message_id:
        return None
    return hashlib.sha256(f"{channel}\0{sender}\0{message_id}".encode()).hexdigest()[:40]


Operation = Callable[["CoreClient", dict[str, Any], CallContext], Awaitable[Any]]


class CoreClient:
    """Calls the core API as the bot service, on behalf of the session's number."""

    def __init__(self, http: httpx.AsyncClient, service_token: str,
                 operations: dict[str, Operation]) -> None:
        self.http = http
        self.service_token = service_token
        self.operations = operations
        self.media_policy: Any = None  # bot.media.MediaPolicy: where photos may come from
        # bot.followup.CaseFollowUps: "is it fixed?" questions waiting for the answer
        self.follow_ups: Any = None
        self._reference: dict[str, tuple[float, Any]] = {}

    async def request(
        self,
        method: str,
        path: str,
        phone: str | None,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        not_found_ok: bool = False,
        idempotency_key: str | None = None,
    ) -> Any:
        """One API call; 4xx become ServiceError with the API's code, 5xx and timeouts too."""
        headers = {"Authorization": f"Bearer {self.service_token}"}
        if phone:
            headers["X-On-Behalf-Of"] = phone
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        try:
            response = await self.http.request(method, path, json=json, params=params,
                                               headers=headers)
        except httpx.HTTPError as exc:
            raise ServiceError("unavailable", f"{type(exc).__name__}: {exc}", 503) from exc
        if response.status_code == 404 and not_found_ok:
            return None
        if response.status_code >= 400:
            code = "error"
            try:
                code = response.json()["error"]["code"]
            except (ValueError, KeyError, TypeError):
                pass
            raise ServiceError(code, response.text[:200], response.status_code)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def reference(self, key: str, path: str) -> Any:
        """Reference data (complaint types, tenants), cached in the process for a while."""
        cached = self._reference.get(key)
        if cached and time.monotonic() - cached[0] < REFERENCE_TTL_S:
            return cached[1]
        value = await self.request("GET", path, None)
        self._reference[key] = (time.monotonic(), value)
        return value

    async def call(self, op: str, args: dict[str, Any], ctx: CallContext) -> Any:
        """Run the registered operation ``op``."""
        fn = self.operations.get(op)
        if fn is None:
            raise ServiceError("unknown_operation", op, 500)
        return await fn(self, args, ctx)


COMPLAINT_TYPES_PATH = "/api/v1/complaint-types"


def flatten_types(categories: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Complaint types out of the category tree the API serves."""
    return [t for category in categories or [] for t in category.get("types", [])]
