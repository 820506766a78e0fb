"""Tracking a complaint: the operations and helpers of flow track_complaint (rating and
reopening is ``complaint_action`` in ``bot.shared_actions``)."""

from __future__ import annotations

from functools import partial
from typing import Any
from urllib.parse import quote

from bot.core_client import CallContext, CoreClient, Operation
from bot.labels import (
    ROW_TITLE_MAX,
    in_each_locale,
    latest_note,
    local_name,
    shorten,
    status_name,
)
from bot.services import Helper
from bot.session import Session
from bot.shared_actions import CITIZEN_COMPLAINT_ACTIONS, complaint_catalogue

MAX_TRACKED = 3  # latest complaints offered
CLOSED_COMPLAINT_STATES = ("CLOSEDAFTERRESOLUTION", "CLOSEDAFTERREJECTION")


def _complaint_label(row: dict[str, Any], locale: str,
                     categories: dict[str, dict[str, str]]) -> str:
    """"Damaged road: Resolved": the status always whole; the type when it fits, else its
    category ("Streetlights: Reassigning"), else the type shortened ("Mosquito…:")."""
    status = status_name(row["status"], "short", locale)
    room = ROW_TITLE_MAX - len(status) - 2
    kind = local_name(row["type"]["names"], locale)
    category = local_name(categories.get(row["type"].get("category_code", "")), locale)
    if len(kind) > room and category and len(category) <= room:
        kind = category
    return f"{shorten(kind, room)}: {status}"


async def my_complaints(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """The citizen's latest complaints, newest first, as options: ``{count, items: [{id,
    label: {en, hi}, filed}]}`` (``filed`` is the ISO date it was filed)."""
    page = await client.request("GET", "/api/v1/complaints", ctx.phone,
                                params={"limit": MAX_TRACKED}) or {}
    rows = page.get("items", [])[:MAX_TRACKED]
    categories = {c["code"]: c.get("names") or {} for c in await complaint_catalogue(client)}
    items = [{"id": row["id"],
              "label": in_each_locale(partial(_complaint_label, row, categories=categories)),
              "filed": str(row["created_at"])[:10]} for row in rows]
    return {"count": len(items), "items": items}


def _complaint_stage(row: dict[str, Any]) -> str:
    if set(CITIZEN_COMPLAINT_ACTIONS) & set(row.get("actions") or []):
        return "act"
    return "closed" if row["status"] in CLOSED_COMPLAINT_STATES else "open"


async def complaint_details(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """One of the citizen's complaints as the flow shows it, in the citizen's language:
    ``{id, type, place, status, filed, due, note, stage}``; ``stage`` is ``act`` when the
    citizen may rate or reopen it now (resolved or rejected), ``closed`` once it is closed,
    else ``open``."""
    locale = ctx.session.locale
    number = quote(str(args["id"]), safe="")
    row = await client.request("GET", f"/api/v1/complaints/{number}", ctx.phone)
    locality = row.get("locality") or {}
    place = local_name(locality.get("names"), locale) if locality else ""
    return {"id": row["id"], "type": local_name(row["type"]["names"], locale),
            "place": place or row.get("address") or "-",
            "status": status_name(row["status"], "status", locale),
            "filed": row["created_at"], "due": row["sla_due_at"],
            "note": latest_note(row.get("history") or []),
            "stage": _complaint_stage(row)}


def complaint_shown(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """Once a complaint's details are shown only its ``stage`` (act/open/closed) is kept:
    the details ``c`` and an earlier action's answers are dropped to keep the session small
    (the complaint's number stays in ``complaint_id``)."""
    details = slots.get("c") or {}
    return {"stage": details.get("stage") or "open", "c": None, "done": None, "reason": None,
            "feedback": None, "rating": None}


OPERATIONS: dict[str, Operation] = {
    "my_complaints": my_complaints,
    "complaint_details": complaint_details,
}
HELPERS: dict[str, Helper] = {"complaint_shown": complaint_shown}
