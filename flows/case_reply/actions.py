"""The answer to a notification's "is it fixed?": the operation the engine asks before it
enters flow case_reply (rating or reopening is ``complaint_action`` in
``bot.shared_actions``)."""

from __future__ import annotations

from typing import Any

from bot.core_client import CallContext, CoreClient, Operation


async def case_follow_up(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """The complaint a notification asked this number "is it fixed?" about, while the
    question waits for its answer (``bot.followup``): ``{id, locale}``, or None."""
    if client.follow_ups is None:
        return None
    found = await client.follow_ups.pending(ctx.phone)
    return {"id": found.complaint_id, "locale": found.locale} if found else None


OPERATIONS: dict[str, Operation] = {"case_follow_up": case_follow_up}
