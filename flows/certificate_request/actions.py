"""Births and deaths certificates: the operations and helpers of flow certificate_request.

Each operation shapes the core API's answer to what the flow needs, so that only small
values go into the session.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from bot.core_client import CallContext, CoreClient, Operation
from bot.i18n import SOURCE_LOCALE, has_message, lang, translate
from bot.inputs import ascii_digits
from bot.labels import short_tenant_name
from bot.services import Helper, ServiceError
from bot.session import Session
from bot.shared_actions import TENANTS_PATH, channel_of, home_first_ulbs

# Cities offered: as many as a list holds where options are tapped; where they are typed
# as numbers, 1-8 ("9" and "0" are the global words back and menu).
TYPED_CITY_OPTIONS = 8
OPEN_CERTIFICATE_STATES = ("PENDINGPAYMENT", "PENDINGAPPROVAL")
_REGISTRATION_NUMBER = re.compile(r"([BD])([A-Z]{2,5})(\d{4})(\d{1,6})")


async def tenants(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """The ULBs as options ``[{code, label}]``, the citizen's home ULB first."""
    channel = channel_of(ctx.session)
    limit = channel.list_rows if channel.interactive else TYPED_CITY_OPTIONS
    ulbs = await home_first_ulbs(client, ctx.session.tenant)
    return [{"code": t["code"], "label": short_tenant_name(t, ctx.session.locale)}
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


async def create_certificate_request(
    client: CoreClient, args: dict[str, Any], ctx: CallContext
) -> Any:
    """Apply for copies of a certificate, saying how the citizen is related to the person
    on the record (``relation``). An open request for the same record is returned instead of
    a second one (``new: no``)."""
    copies = max(1, min(5, int(float(args.get("copies") or 1))))
    number = str(args["registration_number"])
    body = {"registration_number": number, "copies": copies,
            "relation": str(args.get("relation") or "other"),
            "channel": channel_of(ctx.session).kind}  # the request's news goes back there
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


async def get_certificate_request(
    client: CoreClient, args: dict[str, Any], ctx: CallContext
) -> Any:
    """One of the citizen's requests with its status and, once issued, the PDF link."""
    number = quote(str(args["number"]), safe="")
    row = await client.request("GET", f"/api/v1/certificate-requests/{number}", ctx.phone)
    return _certificate_request(row)


def normalize_registration_number(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """``typed_number`` ("b ddn 2019 123") -> ``reg_number`` "B-DDN-2019-00123", or "" when
    it is not a birth (B) or death (D) registration number."""
    typed = re.sub(r"[^A-Z0-9]", "", ascii_digits(str(slots.get("typed_number") or "")).upper())
    match = _REGISTRATION_NUMBER.fullmatch(typed)
    if match is None:
        return {"reg_number": ""}
    kind, ulb, year, serial = match.groups()
    return {"reg_number": f"{kind}-{ulb}-{year}-{serial.zfill(5)}"}


def certificate_match(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """The record the citizen means (``picked`` among the search results, else the only
    one) as ``match``. A single result is dropped from ``found`` to keep the session small;
    several stay, so that "back" can show the choice again."""
    results = (slots.get("found") or {}).get("results") or []
    picked = slots.get("picked")
    match = next((r for r in results if r.get("number") == picked), results[0] if results else None)
    return {"match": match, "found": None} if len(results) <= 1 else {"match": match}


async def certificate_relabel(client: CoreClient, args: dict[str, Any],
                              ctx: CallContext) -> Any:
    """After a language switch mid-request (the flow's ``relabel``): the city list and the
    citizen's requests listed again in the session's language (both are reads; the records
    found keep their labels: searching again would count as one more lookup)."""
    slots = ctx.session.slots
    if "cities" in slots:
        slots["cities"] = await tenants(client, args, ctx)
    if "mine" in slots:
        slots["mine"] = await my_certificate_requests(client, args, ctx)
    return {}


OPERATIONS: dict[str, Operation] = {
    "tenants": tenants,
    "certificate_relabel": certificate_relabel,
    "search_registration": search_registration,
    "create_certificate_request": create_certificate_request,
    "my_certificate_requests": my_certificate_requests,
    "get_certificate_request": get_certificate_request,
}
HELPERS: dict[str, Helper] = {
    "normalize_registration_number": normalize_registration_number,
    "certificate_match": certificate_match,
}
