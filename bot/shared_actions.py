"""Operations and helpers more than one flow calls, and what the flows' actions share.

A flow's own operations and helpers live in its slice (``flows/<id>/actions.py``); the ones
here are called by several flows: ``ensure_citizen`` by onboarding and case_reply,
``update_profile``, ``offer_languages`` and ``set_locale`` by onboarding and
change_language, ``start_payment`` by pay_bill and certificate_request,
``complaint_action`` by track_complaint, feedback and case_reply, the complaint categories
and photos by file_complaint and employee_tasks.
``bot.slices`` merges ``OPERATIONS`` and ``HELPERS`` below with the slices' own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
import structlog

from bot.channel_kinds import Capabilities, capabilities
from bot.core_client import (
    COMPLAINT_TYPES_PATH,
    CallContext,
    CoreClient,
    Operation,
    flatten_types,
)
from bot.i18n import format_moment, language_menu, locale_codes, translate
from bot.labels import every_name, in_each_locale, local_name, tenant_names, yes_no
from bot.links import ShortLinks
from bot.media import PHOTO_TYPES, MediaError, is_media_link
from bot.services import Helper, ServiceError
from bot.session import Session

TENANTS_PATH = "/api/v1/tenants"
CITIZEN_COMPLAINT_ACTIONS = ("RATE", "REOPEN")
MAX_COMPLAINT_PHOTOS = 3
PHOTOS_DEADLINE_S = 15.0  # every download of one turn together: the session lock lasts 30 s

_payment_log = structlog.get_logger("bot.pay_bill")


# --- what the flows' actions share ----------------------------------------------------------


def channel_of(session: Session) -> Capabilities:
    """What the session's channel can show; an unregistered channel is an error, never
    taken for another one."""
    return capabilities(session.channel or "")


def option_row(rows: Any, wanted: Any) -> dict[str, Any] | None:
    """The option row (``{i: id, l: label}``) whose id is ``wanted`` (the engine gives ids
    back as text)."""
    return next((row for row in rows or [] if str(row.get("i")) == str(wanted)), None)


def paged(rows: list[dict[str, Any]], after: Any, more: str,
          session: Session) -> dict[str, Any]:
    """One page of options ``{p, items}``: as many rows as one list question shows on the
    session's channel, so that the session holds one page, not the whole list. With more
    rows than fit, every page ends in a "More" row (id ``more``, label message ``more``)
    and the page after the last is the first again; ``after`` is the page shown before
    (none: the first)."""
    limit = channel_of(session).list_rows
    if len(rows) <= limit:
        return {"p": 1, "items": rows}
    size = limit - 1
    pages = -(-len(rows) // size)
    try:
        page = int(after) % pages + 1
    except (TypeError, ValueError):
        page = 1
    items = [*rows[(page - 1) * size: page * size],
             {"i": "more", "l": translate(session.locale, more)}]
    return {"p": page, "items": items}


async def home_first_ulbs(client: CoreClient, home: str | None) -> list[dict[str, Any]]:
    """The ULBs (cities) we serve, the citizen's home ULB first."""
    rows = await client.reference("tenants", TENANTS_PATH) or []
    return sorted((t for t in rows if t.get("level") == "ulb"), key=lambda t: t["code"] != home)


async def complaint_catalogue(client: CoreClient) -> list[dict[str, Any]]:
    """The complaint categories with their types (reference data, cached in the process)."""
    return await client.reference("complaint_types", COMPLAINT_TYPES_PATH) or []


def photo_failure(exc: Exception) -> str | None:
    """What went wrong with a photo, for the log: a ``MediaError``'s own words ("media lookup
    answered HTTP 404", "too large"); nothing for other errors, whose text may hold a link."""
    return str(exc)[:200] if isinstance(exc, MediaError) else None


async def post_complaint_photo(client: CoreClient, complaint_id: str, phone: str, data: bytes,
                               content_type: str) -> httpx.Response:
    """POST one photo (multipart) to the complaint, for ``phone``: the API's answer (201
    with the file's ``key`` when it is stored)."""
    headers = {"Authorization": f"Bearer {client.service_token}", "X-On-Behalf-Of": phone}
    return await client.http.post(
        f"/api/v1/complaints/{quote(complaint_id, safe='')}/photos", headers=headers,
        files={"file": (f"photo.{PHOTO_TYPES[content_type]}", data, content_type)})


# --- the citizen (onboarding, change_language, case_reply) ----------------------------------


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
    return {"known_locale": yes_no(user.get("locale")), "has_name": yes_no(user.get("name")),
            "employee": yes_no(s.employee)}


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


def offer_languages(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """The registered locales as the language question's options (``languages``), so that
    a locale added under locales/ is offered without editing the flows."""
    return {"languages": language_menu()}


def set_locale(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """Switch the conversation to the chosen locale at once."""
    chosen = slots.get("chosen_locale")
    if chosen in locale_codes():
        session.locale = chosen
    return {}


# --- payments (pay_bill, certificate_request) -----------------------------------------------


def _until(moment: str) -> dict[str, str]:
    """"24 Nov 2026, 5:42 pm" in Asia/Kolkata, per locale (the ``moment`` filter shows
    seconds, which a payment deadline does not need)."""
    when = datetime.fromisoformat(moment)
    return in_each_locale(lambda locale: format_moment(when, locale))


async def start_payment(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """Open (or reopen) the bill's payment: ``{status: ok, url, upi, upi_mode, media,
    amount, expires}``. ``upi_mode`` is ``qr`` where the channel sends pictures (WhatsApp:
    ``media`` holds the QR image, ``upi`` the deep link), ``page`` where it does not (SMS:
    ``url`` is a short ``/r/`` link whose page has the UPI app button: SMS apps do not open
    ``upi://``, and the long link would cost segments), ``none`` without a UPI payee.
    ``status`` is ``paid`` or ``closed`` (cancelled bill, no online payment here) instead
    when there is nothing to pay online."""
    body = {"consumer_number": str(args["consumer_number"])} if args.get(
        "consumer_number") else {}
    channel = channel_of(ctx.session)
    body["channel"] = channel.kind  # the receipt goes back there
    number = quote(str(args["bill_number"]), safe="")
    try:
        intent = await client.request("POST", f"/api/v1/bills/{number}/payment-intents",
                                      ctx.phone, json=body)
    except ServiceError as exc:
        if exc.code == "bill_paid":
            return {"status": "paid"}
        if exc.code in ("bill_cancelled", "payments_unavailable"):
            return {"status": "closed"}
        raise
    upi, qr = intent.get("upi_link") or "", intent.get("upi_qr_url")
    result = {"status": "ok", "url": intent["payment_url"], "upi": "", "upi_mode": "none",
              "media": [], "amount": intent["amount"], "expires": _until(intent["expires_at"])}
    if channel.media:
        if upi and qr:
            result.update(upi=upi, upi_mode="qr", media=[
                {"url": qr, "content_type": "image/png", "filename": "upi-qr.png"}])
        return result
    result["url"] = await _short_payment_link(client, str(args["bill_number"]), ctx) or (
        intent["payment_url"])
    if upi:
        result["upi_mode"] = "page"
    return result


async def _short_payment_link(client: CoreClient, bill_number: str,
                              ctx: CallContext) -> str | None:
    """The SMS form of the payment link (``/r/<code>``); None keeps the long one, which
    works as well: a failed shortening must not stop a payment."""
    try:
        return await ShortLinks(client).shorten("payment", bill_number, ctx.phone)
    except ServiceError as exc:
        _payment_log.warning("payment_short_link_failed", code=exc.code, status=exc.status)
        return None


# --- complaints (track_complaint, feedback, case_reply; file_complaint, employee_tasks) -----


async def complaint_action(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """The citizen reopens (``comment``: the reason) or rates (``rating`` 1-5, ``comment``:
    feedback) a complaint: ``{done: yes, status, due}``. A refusal (the complaint moved on
    meanwhile: ``invalid_action``, ``action_forbidden``) is ``{done: no, code}``; an API
    that is down raises, so the engine says "try again" and asks the last question again."""
    action = str(args["action"]).upper()
    if action not in CITIZEN_COMPLAINT_ACTIONS:
        raise ServiceError("invalid_action", f"citizens may not {action}", 400)
    body: dict[str, Any] = {"action": action}
    comment = " ".join(str(args.get("comment") or "").split())
    if comment:
        body["comment"] = comment
    if action == "RATE":
        body["rating"] = max(1, min(5, int(float(args["rating"]))))
    number = quote(str(args["id"]), safe="")
    try:
        row = await client.request("POST", f"/api/v1/complaints/{number}/actions", ctx.phone,
                                   json=body)
    except ServiceError as exc:
        if exc.retryable:
            raise
        result = {"done": "no", "code": exc.code}
    else:
        result = {"done": "yes", "status": row["status"], "due": row["sla_due_at"]}
    # Rated, reopened or moved on: a pending "is it fixed?" about it is answered.
    if client.follow_ups is not None:
        await client.follow_ups.settle(ctx.phone, str(args["id"]))
    return result


async def complaint_categories(client: CoreClient, args: dict[str, Any],
                               ctx: CallContext) -> Any:
    """A page of complaint categories as options: ``{p, items: [{i, l}]}``. ``after``
    is the page shown before; the "More categories" row wraps round to the first page."""
    locale = ctx.session.locale
    rows = [{"i": c["code"], "l": local_name(c.get("names"), locale) or c["code"]}
            for c in await complaint_catalogue(client) if c.get("types")]
    return paged(rows, args.get("after"), "file_complaint.more_categories", ctx.session)


async def complaint_subtypes(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """The complaint types of ``category`` as options ``[{i, l}]``. A category has a handful
    of types: all are given (the engine pages a long list on SMS)."""
    locale = ctx.session.locale
    category = next((c for c in await complaint_catalogue(client)
                     if c["code"] == args.get("category")), None)
    if category is None:
        raise ServiceError("unknown_category", str(args.get("category")), 400)
    return [{"i": t["code"], "l": local_name(t.get("names"), locale) or t["code"]}
            for t in category.get("types", [])]


# --- every name of an option, for a typed answer (``options_from: {names: ...}``) ----------


async def category_names(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """``{code: [names]}``: the complaint categories ``ids`` in every language."""
    wanted = set(args.get("ids") or [])
    return {c["code"]: every_name(c.get("names")) for c in await complaint_catalogue(client)
            if c["code"] in wanted}


async def type_names(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """``{code: [names]}``: the complaint types ``ids`` in every language."""
    wanted = set(args.get("ids") or [])
    return {row["code"]: every_name(row.get("names"))
            for row in flatten_types(await complaint_catalogue(client)) if row["code"] in wanted}


async def city_names(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """``{code: [names]}``: the ULBs ``ids``, short and full, in every language."""
    wanted = set(args.get("ids") or [])
    return {t["code"]: tenant_names(t) for t in await client.reference("tenants", TENANTS_PATH)
            or [] if t["code"] in wanted}


def complaint_photos(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """Keep only the links of the photos sent (at most three); none when skipped. A link is
    an http(s) URL (Twilio, the simulator) or a provider's reference (Meta's
    ``meta-media:<id>``); which ones may be fetched is for ``bot.media`` to decide."""
    photos = slots.get("photos") or []
    links = [str(p["url"]) for p in photos if isinstance(p, dict)
             and is_media_link(str(p.get("url", "")))]
    return {"photos": links[:MAX_COMPLAINT_PHOTOS]}


OPERATIONS: dict[str, Operation] = {
    "ensure_citizen": ensure_citizen,
    "update_profile": update_profile,
    "start_payment": start_payment,
    "complaint_action": complaint_action,
    "complaint_categories": complaint_categories,
    "complaint_subtypes": complaint_subtypes,
    "category_names": category_names,
    "type_names": type_names,
    "city_names": city_names,
}
HELPERS: dict[str, Helper] = {
    "offer_languages": offer_languages,
    "set_locale": set_locale,
    "complaint_photos": complaint_photos,
}
