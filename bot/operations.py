"""Core-API operations flows may ``call``. Each shapes the answer to what the flow needs,
so that only small values go into the session.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import structlog

from bot.core_client import (
    COMPLAINT_TYPES_PATH,
    CallContext,
    CoreClient,
    Operation,
    flatten_types,
)
from bot.engine import SMS_PAGE_SIZE, ServiceError
from bot.i18n import (
    SOURCE_LOCALE,
    available_locales,
    format_amount,
    format_moment,
    has_message,
    lang,
    translate,
)
from bot.links import ShortLinks
from bot.media import PHOTO_TYPES, MediaError, fetch_media
from bot.session import Session

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


# --- births and deaths certificates (flow certificate_request) ------------------------------

TENANTS_PATH = "/api/v1/tenants"
# A WhatsApp list holds ten rows; on SMS "9" and "0" are the global words back and menu.
MAX_CITY_OPTIONS = {"whatsapp": 10, "sms": 8}
OPEN_CERTIFICATE_STATES = ("PENDINGPAYMENT", "PENDINGAPPROVAL")


def _short_tenant_name(tenant: dict[str, Any], locale: str | None) -> str:
    """The ULB's short name in the citizen's language (English when it has none)."""
    code = lang(locale)
    english = tenant.get("short_en") or tenant.get("name_en") or tenant["code"]
    if code == "en":
        return english
    if code == "hi":
        return tenant.get("short_hi") or tenant.get("name_hi") or english
    return (tenant.get("short_names") or {}).get(code) or english


@operation("tenants")
async def tenants(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """The ULBs as options ``[{code, label}]``, the citizen's home ULB first."""
    rows = await client.reference("tenants", TENANTS_PATH) or []
    ulbs = sorted((t for t in rows if t.get("level") == "ulb"),
                  key=lambda t: t["code"] != ctx.session.tenant)
    limit = MAX_CITY_OPTIONS.get(ctx.session.channel or "", 8)
    return [{"code": t["code"], "label": _short_tenant_name(t, ctx.session.locale)}
            for t in ulbs[:limit]]


async def _tenants_of_number(client: CoreClient, number: str) -> list[str]:
    """The ULBs whose id code a registration number carries (``B-DDN-2019-00123``: DDN)."""
    parts = number.split("-")
    if len(parts) < 2:
        return []
    rows = await client.reference("tenants", TENANTS_PATH) or []
    return [t["code"] for t in rows
            if t.get("level") == "ulb" and str(t.get("id_code", "")).upper() == parts[1]]


def _kind_label(kind: str, locale: str | None) -> str:
    return translate(locale, f"certificate_request.kind.{kind}")


def _record(found: dict[str, Any], locale: str | None) -> dict[str, Any]:
    """A (masked) registration, small: number, kind, name in the citizen's script, date
    and a parent (spouse for a death); the option label adds the gender to tell twins apart."""
    name = found.get("name_hi") if lang(locale) == "hi" else None
    if found.get("kind") == "death":
        parent = found.get("spouse_name") or found.get("father_name")
    else:
        parent = found.get("father_name") or found.get("mother_name")
    name = name or found.get("name") or ""
    gender_id = f"certificate_request.gender.{found.get('gender')}"
    gender = translate(locale, gender_id) if has_message(gender_id, SOURCE_LOCALE) else ""
    return {"number": found["registration_number"], "kind": found["kind"],
            "kind_label": _kind_label(found["kind"], locale), "name": name,
            "label": f"{name} ({gender})" if gender else name,  # SMS may show only this
            "date": found["event_date"], "parent": parent or "-"}


@operation("search_registration")
async def search_registration(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """Find a birth/death record by its number (the ULB is read from the number) or by
    tenant + kind + name + date + parent. Citizens get masked names; at most three."""
    number = args.get("registration_number")
    if number:
        queries = [{"tenant": code, "registration_number": number}
                   for code in await _tenants_of_number(client, number)]
    else:
        queries = [{"tenant": args["tenant"], "kind": args["kind"], "name": args["name"],
                    "date_of_event": args["date"], "parent_name": args["parent"]}]
    results: list[dict[str, Any]] = []
    for params in queries:
        answer = await client.request("GET", "/api/v1/registrations/search", ctx.phone,
                                      params=params)
        results.extend((answer or {}).get("results", []))
    results = results[:3]
    return {"count": len(results),
            "results": [_record(r, ctx.session.locale) for r in results]}


def _certificate_request(row: dict[str, Any]) -> dict[str, Any]:
    """What the flow shows of a request: status, fee bill, and once issued the PDF."""
    pdf = []
    if row.get("download_url"):
        pdf = [{"url": row["download_url"], "content_type": "application/pdf",
                "filename": f"{row.get('certificate_number') or row['request_number']}.pdf"}]
    return {"number": row["request_number"], "status": row["status"], "fee": row["fee"],
            "bill": row.get("fee_bill_number") or "", "comment": row.get("status_comment") or "",
            "certificate": row.get("certificate_number") or "", "pdf": pdf,
            "verify": row.get("verify_url") or ""}


@operation("create_certificate_request")
async def create_certificate_request(
    client: CoreClient, args: dict[str, Any], ctx: CallContext
) -> Any:
    """Apply for copies of a certificate, saying how the citizen is related to the person
    on the record (``relation``). An open request for the same record is returned instead of
    a second one (``new: no``)."""
    copies = max(1, min(5, int(float(args.get("copies") or 1))))
    number = str(args["registration_number"])
    body = {"registration_number": number, "copies": copies,
            "relation": str(args.get("relation") or "other")}
    if ctx.session.channel in ("whatsapp", "sms"):  # the request's news goes back there
        body["channel"] = ctx.session.channel
    try:
        row = await client.request("POST", "/api/v1/certificate-requests", ctx.phone, json=body)
    except ServiceError as exc:
        if exc.code != "request_open":
            raise
        rows = await client.request("GET", "/api/v1/certificate-requests", ctx.phone,
                                    params={"limit": 50}) or []
        row = next((r for r in rows if r["registration_number"] == number
                    and r["status"] in OPEN_CERTIFICATE_STATES), None)
        if row is None:
            raise
        return {**_certificate_request(row), "new": "no"}
    return {**_certificate_request(row), "new": "yes"}


@operation("my_certificate_requests")
async def my_certificate_requests(
    client: CoreClient, args: dict[str, Any], ctx: CallContext
) -> Any:
    """The citizen's latest three requests as options: ``{count, items: [{number, label,
    name}]}`` with a short "Birth: fee due" label in the citizen's language."""
    locale = ctx.session.locale
    rows = await client.request("GET", "/api/v1/certificate-requests", ctx.phone,
                                params={"limit": 3}) or []
    items = []
    for row in rows:
        status_id = f"certificate_request.status.{row['status']}"
        status = translate(locale, status_id) if has_message(status_id, SOURCE_LOCALE) else (
            row["status"].lower())
        name = row.get("name_hi") if lang(locale) == "hi" else None
        items.append({"number": row["request_number"],
                      "label": f"{_kind_label(row['kind'], locale)}: {status}",
                      "name": name or row.get("name") or ""})
    return {"count": len(items), "items": items}


@operation("get_certificate_request")
async def get_certificate_request(
    client: CoreClient, args: dict[str, Any], ctx: CallContext
) -> Any:
    """One of the citizen's requests with its status and, once issued, the PDF link."""
    number = quote(str(args["number"]), safe="")
    row = await client.request("GET", f"/api/v1/certificate-requests/{number}", ctx.phone)
    return _certificate_request(row)


# --- receipts (flow receipts) ---------------------------------------------------------------

MAX_RECEIPTS = {"whatsapp": 5, "sms": 3}  # an SMS list must fit three segments in Hindi


def _service_name(receipt: dict[str, Any], locale: str | None) -> str:
    """A short bill-type name from the catalogs, else the API's name."""
    msgid = f"receipts.service.{receipt.get('service')}"
    if has_message(msgid, SOURCE_LOCALE):
        return translate(locale, msgid)
    if lang(locale) == "hi" and receipt.get("service_name_hi"):
        return receipt["service_name_hi"]
    return receipt.get("service_name_en") or str(receipt.get("service", ""))


def _receipt_pdf(receipt: dict[str, Any]) -> list[dict[str, str]]:
    if not receipt.get("pdf_url"):
        return []
    return [{"url": receipt["pdf_url"], "content_type": "application/pdf",
             "filename": f"{receipt['receipt_number']}.pdf"}]


@operation("list_receipts")
async def list_receipts(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """The citizen's latest receipts, newest first: ``{count, items: [{number, label,
    paid_at}]}``; the label ("₹3,140.00 · Property tax") reads well even without the rest."""
    locale = ctx.session.locale
    limit = MAX_RECEIPTS.get(ctx.session.channel or "", 3)
    rows = await client.request("GET", "/api/v1/receipts", ctx.phone,
                                params={"limit": limit}) or []
    items = [{"number": r["receipt_number"],
              "label": f"{format_amount(r['amount'], locale)} · {_service_name(r, locale)}",
              "paid_at": r["issued_at"]} for r in rows]
    return {"count": len(items), "items": items}


@operation("get_receipt")
async def get_receipt(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """One receipt with its signed PDF link (``pdf`` is a media list for ``say`` steps)."""
    number = quote(str(args["number"]), safe="")
    row = await client.request("GET", f"/api/v1/receipts/{number}", ctx.phone)
    return {"number": row["receipt_number"], "service": _service_name(row, ctx.session.locale),
            "amount": row["amount"], "paid_at": row["issued_at"], "pdf": _receipt_pdf(row)}


# --- bills (flow pay_bill) ------------------------------------------------------------------

MAX_BILL_OPTIONS = 5  # own unpaid bills offered; one more row searches by consumer number
BILL_LABEL_MAX = 24  # a WhatsApp list row title


def _in_each_locale(text: Callable[[str], str]) -> dict[str, str]:
    """``{"en": .., "hi": ..}`` for every locale with a catalog, for the ``name`` filter:
    a language switch mid-flow still reads right."""
    return {lang(locale): text(locale) for locale in available_locales() or (SOURCE_LOCALE,)}


def _bill_type(bill: dict[str, Any], form: str, locale: str) -> str:
    """The bill type from the catalogs (``short`` for labels, ``type`` in full), else the
    API's own name."""
    msgid = f"pay_bill.{form}.{bill.get('service')}"
    if has_message(msgid, SOURCE_LOCALE):
        return translate(locale, msgid)
    if lang(locale) == "hi" and bill.get("service_name_hi"):
        return str(bill["service_name_hi"])
    return str(bill.get("service_name_en") or bill.get("service") or "")


def _bill_label(bill: dict[str, Any], locale: str) -> str:
    """"Water ₹1,236.50": the amount always whole (whole rupees drop their ".00" when
    room is short), the type shortened when it must be."""
    amount = format_amount(bill["total"], locale)
    kind = _bill_type(bill, "short", locale)
    if len(kind) + 1 + len(amount) > BILL_LABEL_MAX and amount.endswith(".00"):
        amount = amount[:-3]
    room = BILL_LABEL_MAX - len(amount) - 1
    if len(kind) > room:
        kind = kind[: max(room - 1, 1)].rstrip() + "…"
    return f"{kind} {amount}"


def _bill_option(bill: dict[str, Any], locale: str) -> dict[str, Any]:
    """A list row: id, label ``l`` and due date ``d`` (short keys: up to six rows live in
    the session while the citizen chooses)."""
    return {"id": bill["bill_number"], "l": _bill_label(bill, locale), "d": bill["due_date"]}


@operation("unpaid_bills")
async def unpaid_bills(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """The citizen's unpaid bills (most urgent first) as options, plus a last row to search
    by consumer number: ``{n, bills: [{id, l: "Water ₹1,236.50", d: due date}]}``."""
    rows = await client.request("GET", "/api/v1/bills", ctx.phone,
                                params={"status": "ACTIVE", "limit": MAX_BILL_OPTIONS}) or []
    locale = ctx.session.locale or SOURCE_LOCALE
    options = [_bill_option(bill, locale) for bill in rows[:MAX_BILL_OPTIONS]]
    options.append({"id": "another", "l": translate(locale, "pay_bill.another")})
    return {"n": len(rows), "bills": options}


@operation("find_bills")
async def find_bills(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """Bills with this exact consumer or property number. ``status``: ``none`` (no bill),
    ``paid`` (all paid), ``limited`` (too many lookups), ``one`` (``id`` of the unpaid
    bill) or ``many`` (``bills`` as options)."""
    params = {"consumer_number": str(args["consumer_number"])}
    if args.get("service"):
        params["service"] = str(args["service"])
    try:
        rows = await client.request("GET", "/api/v1/bills/search", ctx.phone,
                                    params=params) or []
    except ServiceError as exc:
        if exc.code == "too_many_lookups":
            return {"status": "limited"}
        raise
    unpaid = [bill for bill in rows if bill.get("status") == "ACTIVE"]
    if not rows:
        return {"status": "none"}
    if not unpaid:
        return {"status": "paid"}
    if len(unpaid) == 1:
        return {"status": "one", "id": unpaid[0]["bill_number"]}
    locale = ctx.session.locale or SOURCE_LOCALE
    return {"status": "many", "bills": [_bill_option(bill, locale) for bill in unpaid]}


@operation("bill_details")
async def bill_details(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """One bill as the summary shows it. Someone else's bill needs ``consumer_number`` and
    comes with the owner's name masked by the API."""
    number = quote(str(args["bill_number"]), safe="")
    params = {"consumer_number": str(args["consumer_number"])} if args.get(
        "consumer_number") else None
    bill = await client.request("GET", f"/api/v1/bills/{number}", ctx.phone, params=params)
    return {"no": bill["bill_number"], "cn": bill["consumer_number"],
            "type": _bill_type(bill, "type", ctx.session.locale or SOURCE_LOCALE),
            "owner": bill["owner_name"], "from": bill["period_from"], "to": bill["period_to"],
            "total": bill["total"], "due": bill["due_date"], "status": bill["status"]}


def _until(moment: str) -> dict[str, str]:
    """"24 Nov 2026, 5:42 pm" in Asia/Kolkata, per locale (the ``moment`` filter shows
    seconds, which a payment deadline does not need)."""
    when = datetime.fromisoformat(moment)
    return _in_each_locale(lambda locale: format_moment(when, locale))


_payment_log = structlog.get_logger("bot.pay_bill")


@operation("start_payment")
async def start_payment(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """Open (or reopen) the bill's payment: ``{status: ok, url, upi, upi_mode, media,
    amount, expires}``. ``upi_mode`` is ``qr`` on WhatsApp (``media`` holds the QR image,
    ``upi`` the deep link), ``page`` on SMS (``url`` is a short ``/r/`` link whose page has
    the UPI app button: SMS apps do not open ``upi://``, and the long link would cost
    segments), ``none`` without a UPI payee. ``status`` is ``paid`` or ``closed``
    (cancelled bill, no online payment here) instead when there is nothing to pay online."""
    body = {"consumer_number": str(args["consumer_number"])} if args.get(
        "consumer_number") else {}
    if ctx.session.channel in ("whatsapp", "sms"):  # the receipt goes back there
        body["channel"] = ctx.session.channel
    number = quote(str(args["bill_number"]), safe="")
    try:
        intent = await client.request("POST", f"/api/v1/bills/{number}/payment-intents",
                                      ctx.phone, json=body or None)
    except ServiceError as exc:
        if exc.code == "bill_paid":
            return {"status": "paid"}
        if exc.code in ("bill_cancelled", "payments_unavailable"):
            return {"status": "closed"}
        raise
    upi, qr = intent.get("upi_link") or "", intent.get("upi_qr_url")
    result = {"status": "ok", "url": intent["payment_url"], "upi": "", "upi_mode": "none",
              "media": [], "amount": intent["amount"], "expires": _until(intent["expires_at"])}
    if ctx.session.channel == "whatsapp":
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


# --- complaints (flow track_complaint) ------------------------------------------------------

MAX_TRACKED = 3  # latest complaints offered
COMPLAINT_LABEL_MAX = 24  # a WhatsApp list row title
COMPLAINT_NOTE_MAX = 80  # the latest staff note, shortened for chat and SMS
CITIZEN_COMPLAINT_ACTIONS = ("RATE", "REOPEN")
CLOSED_COMPLAINT_STATES = ("CLOSEDAFTERRESOLUTION", "CLOSEDAFTERREJECTION")


def _local_name(names: dict[str, str] | None, locale: str | None) -> str:
    """A names dict (``{"en": .., "hi": ..}``) in the citizen's language, else English."""
    names = names or {}
    return names.get(lang(locale)) or names.get("en") or next(iter(names.values()), "")


def _status_name(status: str, form: str, locale: str | None) -> str:
    """A PGR state in words: ``form`` ``short`` (option labels) or ``status`` (details)."""
    msgid = f"track_complaint.{form}.{status}"
    return translate(locale, msgid) if has_message(msgid, SOURCE_LOCALE) else status


def _shorten(text: str, room: int) -> str:
    """``text`` within ``room`` characters, cut at a word where possible, with "…"."""
    if len(text) <= room:
        return text
    cut = text[: max(room - 1, 1)]
    if not text[len(cut)].isspace() and " " in cut.strip():  # the cut is inside a word
        whole_words = cut.rsplit(" ", 1)[0]
        if len(whole_words) * 2 >= len(cut):  # cut at a word unless that loses too much
            cut = whole_words
    return cut.rstrip(" ,.-") + "…"


def _complaint_label(row: dict[str, Any], locale: str,
                     categories: dict[str, dict[str, str]]) -> str:
    """"Damaged road: Resolved": the status always whole; the type when it fits, else its
    category ("Streetlights: Reassigning"), else the type shortened ("Mosquito…:")."""
    status = _status_name(row["status"], "short", locale)
    room = COMPLAINT_LABEL_MAX - len(status) - 2
    kind = _local_name(row["type"]["names"], locale)
    category = _local_name(categories.get(row["type"].get("category_code", "")), locale)
    if len(kind) > room and category and len(category) <= room:
        kind = category
    return f"{_shorten(kind, room)}: {status}"


@operation("my_complaints")
async def my_complaints(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """The citizen's latest complaints, newest first, as options: ``{count, items: [{id,
    label: {en, hi}, filed}]}`` (``filed`` is the ISO date it was filed)."""
    page = await client.request("GET", "/api/v1/complaints", ctx.phone,
                                params={"limit": MAX_TRACKED}) or {}
    rows = page.get("items", [])[:MAX_TRACKED]
    catalogue = await client.reference("complaint_types", COMPLAINT_TYPES_PATH) or []
    categories = {c["code"]: c.get("names") or {} for c in catalogue}
    items = [{"id": row["id"],
              "label": _in_each_locale(
                  lambda locale, row=row: _complaint_label(row, locale, categories)),
              "filed": str(row["created_at"])[:10]} for row in rows]
    return {"count": len(items), "items": items}


def _latest_note(history: list[dict[str, Any]]) -> str:
    """The newest comment in the complaint's history (a staff note or a reason), short."""
    for entry in reversed(history or []):
        comment = " ".join(str(entry.get("comment") or "").split())
        if comment:
            return _shorten(comment, COMPLAINT_NOTE_MAX)
    return ""


def _complaint_stage(row: dict[str, Any]) -> str:
    if set(CITIZEN_COMPLAINT_ACTIONS) & set(row.get("actions") or []):
        return "act"
    return "closed" if row["status"] in CLOSED_COMPLAINT_STATES else "open"


@operation("complaint_details")
async def complaint_details(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """One of the citizen's complaints as the flow shows it, in the citizen's language:
    ``{id, type, place, status, filed, due, note, stage}``; ``stage`` is ``act`` when the
    citizen may rate or reopen it now (resolved or rejected), ``closed`` once it is closed,
    else ``open``."""
    locale = ctx.session.locale
    number = quote(str(args["id"]), safe="")
    row = await client.request("GET", f"/api/v1/complaints/{number}", ctx.phone)
    locality = row.get("locality") or {}
    place = _local_name(locality.get("names"), locale) if locality else ""
    return {"id": row["id"], "type": _local_name(row["type"]["names"], locale),
            "place": place or row.get("address") or "-",
            "status": _status_name(row["status"], "status", locale),
            "filed": row["created_at"], "due": row["sla_due_at"],
            "note": _latest_note(row.get("history") or []),
            "stage": _complaint_stage(row)}


@operation("complaint_action")
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


@operation("case_follow_up")
async def case_follow_up(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """The complaint a notification asked this number "is it fixed?" about, while the
    question waits for its answer (``bot.followup``): ``{id, locale}``, or None."""
    if client.follow_ups is None:
        return None
    found = await client.follow_ups.pending(ctx.phone)
    return {"id": found.complaint_id, "locale": found.locale} if found else None


# --- filing a complaint (flow file_complaint) -----------------------------------------------

# Rows of one list question, "More" included: a WhatsApp list holds ten; an SMS shows what
# the engine would show as one page (longer lists are paged here, so that the session
# holds one page, not the whole list).
WHATSAPP_LIST_ROWS = 10
SMS_LIST_ROWS = SMS_PAGE_SIZE + 1
PLACE_MATCHES = 5  # "did you mean" rows; one more says "None of these"
PLACE_MIN_SCORE = 70.0  # weaker locality matches are not worth offering
PLACE_SCORE_SPREAD = 20.0  # nor those much weaker than the best one
MAX_COMPLAINT_PHOTOS = 3
PHOTOS_DEADLINE_S = 15.0  # every download of one turn together: the session lock lasts 30 s

_complaint_log = structlog.get_logger("bot.file_complaint")


def _place_name(boundary: dict[str, Any], locale: str | None) -> str:
    """A locality's name in the citizen's language (English when it has none)."""
    return _local_name({"en": boundary.get("name_en", ""), "hi": boundary.get("name_hi", ""),
                        **(boundary.get("names") or {})}, locale)


def _list_rows(session: Session) -> int:
    return WHATSAPP_LIST_ROWS if session.channel == "whatsapp" else SMS_LIST_ROWS


def _paged(rows: list[dict[str, Any]], after: Any, more: str,
           session: Session) -> dict[str, Any]:
    """One page of options ``{p, items}`` for the session's channel. With more rows than
    fit, every page ends in a "More" row (id ``more``, label message ``more``) and the page
    after the last is the first again; ``after`` is the page shown before (none: the first)."""
    limit = _list_rows(session)
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


async def _complaint_catalogue(client: CoreClient) -> list[dict[str, Any]]:
    return await client.reference("complaint_types", COMPLAINT_TYPES_PATH) or []


@operation("complaint_categories")
async def complaint_categories(client: CoreClient, args: dict[str, Any],
                               ctx: CallContext) -> Any:
    """A page of complaint categories as options: ``{p, items: [{i, l}]}``. ``after``
    is the page shown before; the "More categories" row wraps round to the first page."""
    locale = ctx.session.locale
    rows = [{"i": c["code"], "l": _local_name(c.get("names"), locale) or c["code"]}
            for c in await _complaint_catalogue(client) if c.get("types")]
    return _paged(rows, args.get("after"), "file_complaint.more_categories", ctx.session)


@operation("complaint_subtypes")
async def complaint_subtypes(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """The complaint types of ``category`` as options ``[{i, l}]``. A category has a handful
    of types: all are given (the engine pages a long list on SMS)."""
    locale = ctx.session.locale
    category = next((c for c in await _complaint_catalogue(client)
                     if c["code"] == args.get("category")), None)
    if category is None:
        raise ServiceError("unknown_category", str(args.get("category")), 400)
    return [{"i": t["code"], "l": _local_name(t.get("names"), locale) or t["code"]}
            for t in category.get("types", [])]


@operation("complaint_type")
async def complaint_type(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """One complaint type by its code (e.g. understood from free text): ``{c: code, n: name}``
    in the citizen's language."""
    for row in flatten_types(await _complaint_catalogue(client)):
        if row["code"] == args.get("code"):
            return {"c": row["code"],
                    "n": _local_name(row.get("names"), ctx.session.locale) or row["code"]}
    raise ServiceError("unknown_complaint_type", str(args.get("code")), 400)


@operation("complaint_locate")
async def complaint_locate(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """The locality at a map pin: ``{found: yes, i: id, n: name, city: {c: code, n: name}}``,
    or ``{found: no}`` when the pin is outside the area we serve."""
    found = await client.request("GET", "/api/v1/localities/at", ctx.phone,
                                 params={"lat": args["lat"], "lng": args["lng"]},
                                 not_found_ok=True)
    if found is None:
        return {"found": "no"}
    locality, tenant, locale = found["locality"], found["tenant"], ctx.session.locale
    return {"found": "yes", "i": locality["id"], "n": _place_name(locality, locale),
            "city": {"c": tenant["code"], "n": _short_tenant_name(tenant, locale)}}


@operation("complaint_cities")
async def complaint_cities(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """A page of the ULBs as options ``{p, items: [{i, l}]}``, the citizen's home ULB first;
    ``after`` is the page shown before ("More cities" wraps round)."""
    rows = await client.reference("tenants", TENANTS_PATH) or []
    ulbs = sorted((t for t in rows if t.get("level") == "ulb"),
                  key=lambda t: t["code"] != ctx.session.tenant)
    options = [{"i": t["code"], "l": _short_tenant_name(t, ctx.session.locale)} for t in ulbs]
    return _paged(options, args.get("after"), "file_complaint.more_cities", ctx.session)


@operation("complaint_find_places")
async def complaint_find_places(client: CoreClient, args: dict[str, Any],
                                ctx: CallContext) -> Any:
    """Localities named like ``q`` in the city ``tenant`` (or, without one, in every city):
    ``{n, items: [{i, l, city?}]}`` with up to five good matches, best first (and close to
    the best one). Matches from every city carry their ``city`` (``{c: code, n: name}``)."""
    query = " ".join(str(args.get("q") or "").split())[:100]
    tenant = args.get("tenant") or None
    params: dict[str, Any] = {"q": query, "limit": PLACE_MATCHES}
    if tenant:
        params["tenant"] = tenant
    rows = await client.request("GET", "/api/v1/localities/search", ctx.phone,
                                params=params) if query else []
    cities = {} if tenant else {t["code"]: t for t in
                                await client.reference("tenants", TENANTS_PATH) or []}
    locale = ctx.session.locale
    rows = rows or []
    floor = max(PLACE_MIN_SCORE, (rows[0]["score"] if rows else 0) - PLACE_SCORE_SPREAD)
    items: list[dict[str, Any]] = []
    for row in rows:
        if row["score"] < floor:
            continue
        locality = row["locality"]
        item: dict[str, Any] = {"i": locality["id"], "l": _place_name(locality, locale)}
        if not tenant:
            code = locality["tenant_code"]
            item["city"] = {"c": code, "n": _short_tenant_name(cities.get(code) or {"code": code},
                                                               locale)}
        items.append(item)
    return {"n": len(items), "items": items}


@operation("complaint_areas")
async def complaint_areas(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """A page of the city's localities in alphabetical order: ``{p, items: [{i, l}]}``;
    ``after`` is the page shown before ("More areas" wraps round)."""
    rows = await _localities(client, str(args["tenant"]))
    locale = ctx.session.locale
    options = [{"i": b["id"], "l": _place_name(b, locale)}
               for b in sorted(rows, key=lambda b: str(b.get("name_en", "")))]
    return _paged(options, args.get("after"), "file_complaint.more_areas", ctx.session)


async def _localities(client: CoreClient, tenant: str) -> list[dict[str, Any]]:
    """A ULB's localities (reference data, cached in the process like the types)."""
    code = quote(tenant, safe="")
    return await client.reference(f"localities:{code}",
                                  f"/api/v1/tenants/{code}/boundaries?kind=locality") or []


@operation("complaint_names")
async def complaint_names(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """Put the names of the chosen ``type``, ``place`` and ``city`` (slots ``{c|i, n}``) in
    the citizen's language now, so a summary after a language switch reads in one language.
    All of it is cached reference data; a name that cannot be found stays as it was."""
    slots, locale = ctx.session.slots, ctx.session.locale
    kind, place, city = slots.get("type") or {}, slots.get("place") or {}, slots.get("city") or {}
    for row in flatten_types(await _complaint_catalogue(client)):
        if row["code"] == kind.get("c"):
            kind["n"] = _local_name(row.get("names"), locale) or kind.get("n")
    for tenant in await client.reference("tenants", TENANTS_PATH) or []:
        if tenant["code"] == city.get("c"):
            city["n"] = _short_tenant_name(tenant, locale)
    if city.get("c"):
        for locality in await _localities(client, str(city["c"])):
            if locality["id"] == place.get("i"):
                place["n"] = _place_name(locality, locale)
    return {}


@operation("complaint_file")
async def complaint_file(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """File the complaint for the citizen: ``{id, due}`` (its number and the SLA due date).
    ``lat``/``lng`` (a pin) are kept with it when the citizen sent one."""
    channel = ctx.session.channel
    body: dict[str, Any] = {"type_code": str(args["type"]), "locality_id": int(args["locality"]),
                            "source": channel if channel in ("whatsapp", "sms") else "whatsapp"}
    if args.get("lat") is not None and args.get("lng") is not None:
        body["lat"], body["lng"] = float(args["lat"]), float(args["lng"])
    description = str(args.get("description") or "").strip()
    if description:
        body["description"] = description[:500]
    row = await client.request("POST", "/api/v1/complaints", ctx.phone, json=body)
    return {"id": row["id"], "due": row["sla_due_at"]}


def _why(exc: Exception) -> str | None:
    """What went wrong with a photo, for the log: a ``MediaError``'s own words ("media lookup
    answered HTTP 404", "too large"); nothing for other errors, whose text may hold a link."""
    return str(exc)[:200] if isinstance(exc, MediaError) else None


async def _upload_photo(client: CoreClient, complaint_id: str, phone: str, data: bytes,
                        content_type: str) -> bool:
    """POST one photo (multipart) to the complaint; False when the API refuses it."""
    headers = {"Authorization": f"Bearer {client.service_token}", "X-On-Behalf-Of": phone}
    name = f"photo.{PHOTO_TYPES[content_type]}"
    response = await client.http.post(
        f"/api/v1/complaints/{quote(complaint_id, safe='')}/photos", headers=headers,
        files={"file": (name, data, content_type)})
    return response.status_code == 201


@operation("complaint_attach_photos")
async def complaint_attach_photos(client: CoreClient, args: dict[str, Any],
                                  ctx: CallContext) -> Any:
    """Fetch the photos the citizen sent (``photos``: links) and attach them to the filed
    complaint ``id``: ``{added, failed}``. It never raises: the complaint is filed already,
    and a photo that cannot be fetched or stored in time only counts as failed."""
    links = [link for link in args.get("photos") or [] if isinstance(link, str)]
    links = links[:MAX_COMPLAINT_PHOTOS]
    added = 0
    try:
        async with asyncio.timeout(PHOTOS_DEADLINE_S):
            for link in links:
                try:
                    data, content_type = await fetch_media(link, client.media_policy)
                    if await _upload_photo(client, str(args["id"]), ctx.phone, data,
                                           content_type):
                        added += 1
                    else:
                        _complaint_log.warning("photo_refused", complaint=args["id"])
                except (MediaError, httpx.HTTPError) as exc:
                    # The link itself may carry provider credentials: log the reason only
                    # (a MediaError's text names no link, number or token).
                    _complaint_log.warning("photo_not_fetched", complaint=args["id"],
                                           reason=type(exc).__name__, detail=_why(exc))
    except TimeoutError:
        _complaint_log.warning("photo_deadline", complaint=args["id"])
    return {"added": added, "failed": len(links) - added}


# --- employee tasks (flow employee_tasks) ---------------------------------------------------

# A task list longer than one list question is paged: a WhatsApp page ends in a "More tasks"
# row (the page after the last is the first again), an SMS page in "Next" / "Previous"
# rows. The page sizes keep a Hindi session under 1 KB and an SMS page within three
# segments: an SMS in an Indian script is UCS-2 (67 characters a segment, not 153), so its
# pages and lines are shorter.
STAFF_PAGE_TASKS = {"whatsapp": 6, "sms": 5, "sms_ucs2": 4}
STAFF_INBOX_PAGE = 100  # the API's largest page
STAFF_INBOX_MAX = 500  # tasks listed at most per inbox query (five API pages)
STAFF_LME_ROWS = 9
TASK_SMS_LABEL_MAX = {"sms": 34, "sms_ucs2": 29}  # "Streetlights, Rajpur #12 overdue"
TASK_NOTE_MAX = 72  # a WhatsApp list row's description
# The citizen's description as the details repeat it (an SMS must stay within its budget).
TASK_TEXT_MAX = {"whatsapp": 300, "sms": 60}
GRO_STATES = ("PENDINGFORASSIGNMENT", "PENDINGFORREASSIGNMENT")
LME_STATES = ("PENDINGATLME",)
APPROVAL_STATE = "PENDINGAPPROVAL"
CERTIFICATE_PROCESS = "BND-CERT"
# The flow's action ids, by what the API offers the caller (a REASSIGN by the GRO in
# PENDINGFORREASSIGNMENT is an assignment; by the LME in PENDINGATLME a send-back).
COMPLAINT_ACTS = {"ASSIGN": "assign", "REJECT": "reject", "RESOLVE": "resolve"}
CERTIFICATE_ACTS = {"APPROVE": "approve", "REJECT": "reject"}
STAFF_ACT_ORDER = ("assign", "resolve", "approve", "send_back", "reject", "recategorise")
NEXT_PAGE, PREVIOUS_PAGE = "next", "prev"  # the list's paging rows (never a task number)

_staff_log = structlog.get_logger("bot.employee_tasks")


def _task_row(number: str, kind: str, names: tuple[str, ...], place: str, due: str,
              overdue: bool, session: Session) -> dict[str, Any]:
    """A list row: id ``i``, label ``l``, for WhatsApp a description ``d`` (the row title is
    short), for a certificate request kind ``k`` ``r``, and ``due`` for sorting. Every row
    names the type, the place (a certificate: the person on the record), the number's
    serial ("#123") and, when its due time has passed, says "overdue" in the employee's
    language. The type is the first of ``names`` that fits ("No streetlight"), else the
    shortest ("Streetlights" for "Streetlight not working")."""
    locale = session.locale
    flag = translate(locale, "employee_tasks.overdue") if overdue else ""
    row: dict[str, Any] = {"i": number, "k": kind, "due": due}
    serial = f"#{_serial(number)}"
    if session.channel == "whatsapp":
        room = COMPLAINT_LABEL_MAX - len("10. ")  # WhatsApp numbers titles that repeat
        row["l"] = _shorten(_fitting(names, room), room)
        about = ", ".join(part for part in (flag, place) if part)
        row["d"] = f"{_shorten(about, TASK_NOTE_MAX - len(serial) - 1)} {serial}"
    else:
        # The locality stays whole when it can (it tells apart tasks of one type).
        tail = f" {serial}" + (f" {flag}" if flag else "")
        room = TASK_SMS_LABEL_MAX[_sms_kind(locale)] - len(tail)
        place = _shorten(place, max(room // 2, 6))
        name_room = room - len(place) - 2
        name = _shorten(_fitting(names, name_room), max(name_room, 4))
        row["l"] = f"{name}, {place}{tail}"
    return row


def _sms_kind(locale: str | None) -> str:
    """``sms`` when this locale's task list goes as GSM-7 (English), else ``sms_ucs2``."""
    return "sms" if translate(locale, "employee_tasks.pick_page").isascii() else "sms_ucs2"


def _fitting(names: tuple[str, ...], room: int) -> str:
    """The first of ``names`` within ``room`` characters, else the shortest."""
    present = [name for name in names if name] or ["-"]
    return next((name for name in present if len(name) <= room), min(present, key=len))


def _serial(number: str) -> str:
    """"123" of "PG-UK-DDN-2026-000123": enough to tell a task from its neighbours in a
    list row (the details show the whole number)."""
    match = re.search(r"(\d+)$", number)
    return (match.group(1).lstrip("0") or "0") if match else number


def _is_past(moment: str) -> bool:
    """A certificate request's decision is overdue (complaints come flagged by the API,
    whose clock runs their SLA)."""
    when = datetime.fromisoformat(str(moment))
    return when.astimezone(UTC) < datetime.now(UTC)


async def _my_roles(client: CoreClient, ctx: CallContext) -> set[str]:
    """The roles the employee holds (in any tenant), from the user the verified number
    belongs to (``POST /citizens`` finds it, as on first contact; it changes nothing)."""
    me = await client.request("POST", "/api/v1/citizens", ctx.phone, json={"phone": ctx.phone})
    return {str(grant["role"]) for grant in (me or {}).get("roles", [])}


async def _inbox(client: CoreClient, phone: str,
                 params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every complaint of an inbox query, oldest first, through the API's pages (at most
    ``STAFF_INBOX_MAX``: the API cannot order by due time, so the list is sorted here)."""
    rows: list[dict[str, Any]] = []
    while len(rows) < STAFF_INBOX_MAX:
        query = {**params, "limit": STAFF_INBOX_PAGE, "offset": len(rows), "order": "oldest"}
        page = await client.request("GET", "/api/v1/complaints", phone, params=query) or {}
        items = page.get("items") or []
        rows += items
        if not items or len(rows) >= int(page.get("total") or 0):
            break
    return rows


async def _complaint_tasks(client: CoreClient, ctx: CallContext,
                           roles: set[str]) -> list[dict[str, Any]]:
    """GRO: complaints waiting for (re)assignment in their cities; LME: those assigned to
    them. As rows, in the employee's language."""
    queries: list[dict[str, Any]] = []
    if "GRO" in roles:
        queries.append({"status": list(GRO_STATES)})
    if "LME" in roles:
        queries.append({"status": list(LME_STATES), "assignee": "me"})
    found: dict[str, dict[str, Any]] = {}
    for params in queries:
        for row in await _inbox(client, ctx.phone, params):
            found[row["id"]] = row
    locale = ctx.session.locale
    categories = {c["code"]: c.get("names") or {} for c in await _complaint_catalogue(client)}
    rows = []
    for row in found.values():
        # "Streetlights, Rajpur" reads better than "Streetlight no…, Rajpur".
        names = (_local_name(row["type"]["names"], locale),
                 _local_name(categories.get(row["type"].get("category_code", "")), locale))
        locality = row.get("locality") or {}
        place = _local_name(locality.get("names"), locale) if locality else ""
        rows.append(_task_row(row["id"], "c", names, place or row.get("address") or "-",
                              row["sla_due_at"], bool(row.get("overdue")), ctx.session))
    return rows


async def _certificate_due(client: CoreClient, phone: str, row: dict[str, Any]) -> str:
    """When the registrar's decision is due (the approval state's SLA)."""
    number = quote(str(row["request_number"]), safe="")
    process = await client.request(
        "GET", f"/api/v1/workflow/processes/{CERTIFICATE_PROCESS}/{number}", phone) or {}
    return str(process.get("state_sla_due_at") or process.get("sla_due_at")
               or row["updated_at"])


async def _certificate_tasks(client: CoreClient, ctx: CallContext) -> list[dict[str, Any]]:
    """Registrar: certificate requests waiting for approval (the API's largest page)."""
    rows = await client.request("GET", "/api/v1/certificate-requests", ctx.phone,
                                params={"status": APPROVAL_STATE, "limit": 100}) or []
    dues = await asyncio.gather(*(_certificate_due(client, ctx.phone, row) for row in rows))
    locale = ctx.session.locale
    return [_task_row(row["request_number"], "r",
                      (translate(locale, f"employee_tasks.cert.{row['kind']}"),),
                      (row.get("name_hi") if lang(locale) == "hi" else None)
                      or row.get("name") or "-", due, _is_past(due), ctx.session)
            for row, due in zip(rows, dues, strict=True)]


def _task_page(rows: list[dict[str, Any]], wanted: Any, session: Session) -> dict[str, Any]:
    """Page ``wanted`` (1-based, kept within the pages there are) of the sorted rows, with
    the paging rows this channel uses; all of them when they fit one list question."""
    whatsapp = session.channel == "whatsapp"
    kind = "whatsapp" if whatsapp else _sms_kind(session.locale)
    size = STAFF_PAGE_TASKS[kind]
    # Unpaged: a WhatsApp list without "More"; the rows one SMS page shows (UCS-2: no more
    # than a page of tasks).
    fits = {"whatsapp": size + 1, "sms": SMS_LIST_ROWS}.get(kind, size)
    if len(rows) <= fits:
        return {"p": 1, "last": 1, "from": 1 if rows else 0, "to": len(rows), "items": rows}
    last = -(-len(rows) // size)
    try:
        page = min(max(int(float(str(wanted))), 1), last)
    except ValueError:
        page = 1
    first = (page - 1) * size
    items = rows[first:first + size]
    locale = session.locale
    if whatsapp:
        items.append({"i": NEXT_PAGE, "l": translate(locale, "employee_tasks.opt_more")})
    else:
        if page < last:
            items.append({"i": NEXT_PAGE, "l": translate(locale, "employee_tasks.opt_next")})
        if page > 1:
            items.append({"i": PREVIOUS_PAGE,
                          "l": translate(locale, "employee_tasks.opt_previous")})
    return {"p": page, "last": last, "from": first + 1,
            "to": first + len(rows[first:first + size]), "items": items}


@operation("staff_tasks")
async def staff_tasks(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """One page (``page``, 1-based; none: the first) of the employee's tasks, the soonest due
    first, as options: ``{n, p, last, from, to, x, items: [{i, l, d?, k?}]}``: ``n`` counts
    them all, page ``p`` of ``last``, ``from``-``to`` the numbers of its tasks, a task's
    number is ``x`` + its ``i``, and a longer list ends each page in paging rows (ids
    ``next``, ``prev``). GROs get the
    complaints waiting for (re)assignment, LMEs those assigned to them, registrars the
    certificate requests waiting for approval."""
    roles = await _my_roles(client, ctx)
    rows = await _complaint_tasks(client, ctx, roles) if roles & {"GRO", "LME"} else []
    if "REGISTRAR" in roles:
        rows += await _certificate_tasks(client, ctx)
    rows.sort(key=lambda row: datetime.fromisoformat(str(row["due"])))
    page = _task_page(rows, args.get("page") or 1, ctx.session)
    prefix = _shared_prefix([str(row["i"]) for row in page["items"] if "due" in row])
    page["items"] = [{key: value[len(prefix):] if key == "i" and "due" in row else value
                      for key, value in row.items()
                      if key not in ("due", "k") or (key == "k" and value == "r")}
                     for row in page["items"]]
    return {"n": len(rows), "x": prefix, **page}


def _shared_prefix(numbers: list[str]) -> str:
    """What the numbers on a page share up to a "-" ("PG-UK-DDN-2026-"): kept once as
    ``x``, so that the rows' ids (and the session) stay short."""
    if not numbers:
        return ""
    first, last = min(numbers), max(numbers)  # what these share, all of them share
    same = next((i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b),
                min(len(first), len(last)))
    return first[:first.rfind("-", 0, same) + 1]


def _offered(acts: list[str], locale: str | None) -> list[dict[str, str]]:
    """The flow's actions as options ``[{i, l}]`` in a fixed order."""
    return [{"i": act, "l": translate(locale, f"employee_tasks.act.{act}")}
            for act in STAFF_ACT_ORDER if act in acts]


def _complaint_acts(state: str, actions: list[str]) -> list[str]:
    """The flow's actions on a complaint. The GRO who may assign or reject it may also move
    it to another category (``POST .../category``; not a workflow action, so the API's
    ``actions`` do not name it)."""
    acts = [COMPLAINT_ACTS[a] for a in actions if a in COMPLAINT_ACTS]
    if "REASSIGN" in actions:
        acts.append("send_back" if state == "PENDINGATLME" else "assign")
    if state in GRO_STATES and {"ASSIGN", "REASSIGN", "REJECT"} & set(actions):
        acts.append("recategorise")
    return acts


def _map_link(lat: Any, lng: Any) -> str:
    """An https OpenStreetMap link with a marker at the citizen's pin ("" without one): it
    opens in the browser or map app of any phone, where a ``geo:`` link often does not.
    Only staff flows show it (the exact pin is never on a public surface)."""
    if lat is None or lng is None:
        return ""
    at = [f"{float(value):.5f}".rstrip("0").rstrip(".") for value in (lat, lng)]
    return (f"https://www.openstreetmap.org/?mlat={at[0]}&mlon={at[1]}"
            f"#map=18/{at[0]}/{at[1]}")


async def _complaint_task(client: CoreClient, number: str, ctx: CallContext) -> dict[str, Any]:
    row = await client.request("GET", f"/api/v1/complaints/{quote(number, safe='')}",
                               ctx.phone, not_found_ok=True)
    if row is None:
        return {"gone": "yes"}
    locale = ctx.session.locale
    locality = row.get("locality") or {}
    citizen = row.get("citizen") or {}
    text = " ".join(str(row.get("description") or "").split())
    return {"id": row["id"], "k": "c", "s": row["status"],
            "type": _local_name(row["type"]["names"], locale),
            "place": (_local_name(locality.get("names"), locale) if locality else "")
            or row.get("address") or "-",
            "who": citizen.get("name") or "-", "phone": citizen.get("phone") or "-",
            "text": _shorten(text, TASK_TEXT_MAX.get(ctx.session.channel or "", 60))
            if text else "-",
            "status": _status_name(row["status"], "status", locale),
            "note": _latest_note(row.get("history") or []), "due": row["sla_due_at"],
            "map": _map_link(row.get("lat"), row.get("lng")),
            "tn": row["tenant_code"], "dp": row["type"]["department_code"],
            "ty": row["type"]["code"],
            "a": _offered(_complaint_acts(row["status"], row.get("actions") or []), locale)}


async def _certificate_task(client: CoreClient, number: str,
                            ctx: CallContext) -> dict[str, Any]:
    path = f"/api/v1/certificate-requests/{quote(number, safe='')}"
    row = await client.request("GET", path, ctx.phone, not_found_ok=True)
    if row is None:
        return {"gone": "yes"}
    locale = ctx.session.locale
    name = (row.get("name_hi") if lang(locale) == "hi" else None) or row.get("name") or "-"
    acts = [CERTIFICATE_ACTS[a] for a in row.get("actions") or [] if a in CERTIFICATE_ACTS]
    relation = row.get("relation") or "unknown"  # requests made before it was asked
    return {"id": row["request_number"], "k": "r", "s": row["status"],
            "kind": translate(locale, f"employee_tasks.cert.{row['kind']}"), "name": name,
            "date": row["event_date"], "reg": row["registration_number"],
            "copies": row["copies"], "fee": row["fee"],
            "rel": translate(locale, f"employee_tasks.relation.{relation}"),
            "verify": _yes(row.get("needs_verification")),
            "who": row.get("requester_name") or "-", "phone": row.get("requester_phone") or "-",
            "due": await _certificate_due(client, ctx.phone, row), "note": "",
            "a": _offered(acts, locale)}


@operation("staff_task")
async def staff_task(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """One task as the employee sees it, with the actions the API offers them now (``a``,
    as options). A complaint: ``{id, k: c, s, type, place, who, phone, text, status, note,
    due, map, tn, dp, ty, a}`` (``map``: a link to the citizen's pin, or ""; ``ty``: the
    type code); a certificate request: ``{id, k: r, s, kind, name, date, reg, copies,
    fee, rel, verify, who, phone, due, a}`` (``rel``: the requester's relation to the person
    on the record; ``verify: yes`` when the registrar must verify the requester ``who``,
    ``phone`` first); ``{gone: yes}`` when it is no longer visible to them."""
    number = str(args["id"])
    if args.get("kind") == "r":
        return await _certificate_task(client, number, ctx)
    return await _complaint_task(client, number, ctx)


@operation("staff_lmes")
async def staff_lmes(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """The field staff (LME) of the city and department a complaint belongs to, as options:
    ``{n, items: [{i: user id, l: name}]}``."""
    rows = await client.request("GET", "/api/v1/employees", ctx.phone, params={
        "tenant": str(args["tenant"]), "role": "LME", "department": str(args["department"]),
    }) or []
    items = [{"i": row["id"], "l": _shorten(row.get("name") or "-", COMPLAINT_LABEL_MAX)}
             for row in rows[:STAFF_LME_ROWS]]
    return {"n": len(items), "items": items}


async def _upload_staff_photo(client: CoreClient, complaint_id: str, phone: str, data: bytes,
                              content_type: str) -> str | None:
    """POST one photo to the complaint; its file key, or None when the API refuses it."""
    headers = {"Authorization": f"Bearer {client.service_token}", "X-On-Behalf-Of": phone}
    response = await client.http.post(
        f"/api/v1/complaints/{quote(complaint_id, safe='')}/photos", headers=headers,
        files={"file": (f"photo.{PHOTO_TYPES[content_type]}", data, content_type)})
    return str(response.json()["key"]) if response.status_code == 201 else None


async def _resolution_photos(client: CoreClient, complaint_id: str, phone: str,
                             links: list[str]) -> list[str]:
    """Fetch the photos the employee sent and attach them to the complaint: their keys.
    Never raises: a photo that cannot be fetched or stored in time is left out."""
    keys: list[str] = []
    try:
        async with asyncio.timeout(PHOTOS_DEADLINE_S):
            for link in links[:MAX_COMPLAINT_PHOTOS]:
                try:
                    data, content_type = await fetch_media(link, client.media_policy)
                    key = await _upload_staff_photo(client, complaint_id, phone, data,
                                                    content_type)
                except (MediaError, httpx.HTTPError, ValueError, KeyError) as exc:
                    _staff_log.warning("photo_not_attached", complaint=complaint_id,
                                       reason=type(exc).__name__, detail=_why(exc))
                    continue
                if key:
                    keys.append(key)
    except TimeoutError:
        _staff_log.warning("photo_deadline", complaint=complaint_id)
    return keys


def _staff_request(args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The API path and body of the employee's action ``act`` on task ``id``."""
    act, state = str(args["act"]), str(args.get("state") or "")
    number = quote(str(args["id"]), safe="")
    comment = " ".join(str(args.get("comment") or "").split())
    if args.get("kind") == "r":
        action = {"approve": "APPROVE", "reject": "REJECT"}.get(act)
        path = f"/api/v1/certificate-requests/{number}/actions"
    else:
        action = {"assign": "REASSIGN" if state == "PENDINGFORREASSIGNMENT" else "ASSIGN",
                  "reject": "REJECT", "resolve": "RESOLVE", "send_back": "REASSIGN"}.get(act)
        path = f"/api/v1/complaints/{number}/actions"
    if action is None:
        raise ServiceError("invalid_action", act, 400)
    body: dict[str, Any] = {"action": action}
    if comment:
        body["comment"] = comment
    if act == "assign":
        body["assignee_id"] = int(float(str(args["assignee"])))
    return path, body


@operation("staff_act")
async def staff_act(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """The employee acts on a task (``act``: assign with ``assignee``, reject or send_back
    with ``comment``, resolve with ``comment`` and ``photos`` (links), approve), under the
    API's workflow and role rules: ``{done: yes, to, cert, photo}`` (``to``: the assignee's
    name, ``cert``: the certificate issued, ``photo``: none/added/failed). A refusal (the
    task moved on meanwhile) is ``{done: no, code}``; an API that is down raises."""
    path, body = _staff_request(args)
    links = [link for link in args.get("photos") or [] if isinstance(link, str)]
    photo = "none"
    if links and body["action"] == "RESOLVE":
        keys = await _resolution_photos(client, str(args["id"]), ctx.phone, links)
        photo = "added" if keys else "failed"
        if keys:
            body["photos"] = keys
    try:
        row = await client.request("POST", path, ctx.phone, json=body)
    except ServiceError as exc:
        if exc.retryable:
            raise
        return {"done": "no", "code": exc.code}
    return {"done": "yes", "to": ((row or {}).get("assignee") or {}).get("name") or "",
            "cert": (row or {}).get("certificate_number") or "", "photo": photo}


@operation("staff_recategorise")
async def staff_recategorise(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """The GRO moves complaint ``id`` to type ``type`` (so, maybe, to another department)
    with an optional ``comment``: ``{done: yes, type}`` (the new type's name), or ``{done:
    no, code}`` when the API refuses (not a GRO of its city, no longer open); an API that
    is down raises."""
    body: dict[str, Any] = {"type_code": str(args["type"])}
    comment = " ".join(str(args.get("comment") or "").split())
    if comment:
        body["comment"] = comment
    try:
        row = await client.request(
            "POST", f"/api/v1/complaints/{quote(str(args['id']), safe='')}/category",
            ctx.phone, json=body)
    except ServiceError as exc:
        if exc.retryable:
            raise
        return {"done": "no", "code": exc.code}
    kind = (row or {}).get("type") or {}
    return {"done": "yes",
            "type": _local_name(kind.get("names"), ctx.session.locale) or body["type_code"]}
