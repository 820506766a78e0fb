"""Core-API operations flows may ``call``. Each shapes the answer to what the flow needs,
so that only small values go into the session.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.core_client import CallContext, CoreClient, Operation

OPERATIONS: dict[str, Operation] = {}


def operation(name: str) -> Callable[[Operation], Operation]:
    """Register a core-API operation flows may ``call`` by name."""

    def register(fn: Operation) -> Operation:
        OPERATIONS[name] = fn
        return fn

    return register


def _yes(value: object) -> str:
    return "yes" if value else "no"


@operation("ensure_citizen")
async def ensure_citizen(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """Register the verified number (or find it); remember who this is in the session."""
    s = ctx.session
    user = await client.request("POST", "/api/v1/citizens", ctx.phone, json={"phone": ctx.phone})
    s.user_id = user["id"]
    s.name = user.get("name")
    s.employee = user.get("kind") == "employee"
    s.tenant = user.get("tenant_code")
    if user.get("locale"):
        s.locale = user["locale"]  # a stored choice wins over the guess from the script
    return {"known_locale": _yes(user.get("locale")), "has_name": _yes(user.get("name")),
            "employee": _yes(s.employee)}


@operation("update_profile")
async def update_profile(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """Store name, language or opt-out on the citizen."""
    body = {k: v for k, v in args.items() if k in ("name", "locale", "opted_out")}
    if ctx.session.employee:
        if "locale" in body:
            await client.request("PATCH", "/api/v1/users/me/locale", ctx.phone,
                                 params={"locale": body["locale"]})
        return {}
    user = await client.request("PATCH", "/api/v1/citizens/me", ctx.phone, json=body)
    ctx.session.name = user.get("name")
    return {}
