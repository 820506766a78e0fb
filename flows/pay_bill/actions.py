"""Paying a bill: the operations of flow pay_bill (``start_payment``, which the certificate
fee uses too, is in ``bot.shared_actions``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from bot.core_client import CallContext, CoreClient, Operation
from bot.i18n import SOURCE_LOCALE, format_amount, has_message, lang, translate
from bot.labels import ROW_TITLE_MAX
from bot.services import ServiceError

MAX_BILL_OPTIONS = 5  # own unpaid bills offered; one more row searches by consumer number


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
    """"Water ₹1,236.50" within a list row's title: the amount always whole (whole rupees
    drop their ".00" when room is short), the type shortened when it must be."""
    amount = format_amount(bill["total"], locale)
    kind = _bill_type(bill, "short", locale)
    if len(kind) + 1 + len(amount) > ROW_TITLE_MAX and amount.endswith(".00"):
        amount = amount[:-3]
    room = ROW_TITLE_MAX - len(amount) - 1
    if len(kind) > room:
        kind = kind[: max(room - 1, 1)].rstrip() + "…"
    return f"{kind} {amount}"


def _bill_option(bill: dict[str, Any], locale: str) -> dict[str, Any]:
    """A list row: id, label ``l`` and due date ``d`` (short keys: up to six rows live in
    the session while the citizen chooses)."""
    return {"id": bill["bill_number"], "l": _bill_label(bill, locale), "d": bill["due_date"]}


async def unpaid_bills(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """The citizen's unpaid bills (most urgent first) as options, plus a last row to search
    by consumer number: ``{n, bills: [{id, l: "Water ₹1,236.50", d: due date}]}``."""
    rows = await client.request("GET", "/api/v1/bills", ctx.phone,
                                params={"status": "ACTIVE", "limit": MAX_BILL_OPTIONS}) or []
    locale = ctx.session.locale or SOURCE_LOCALE
    options = [_bill_option(bill, locale) for bill in rows[:MAX_BILL_OPTIONS]]
    options.append({"id": "another", "l": translate(locale, "pay_bill.another")})
    return {"n": len(rows), "bills": options}


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


async def bills_relabel(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """After a language switch mid-flow (the flow's ``relabel``): the citizen's unpaid
    bills listed again, labelled in the session's language. Bills found by a consumer
    number keep their labels: searching again would count as one more lookup."""
    if "mine" in ctx.session.slots:
        ctx.session.slots["mine"] = await unpaid_bills(client, args, ctx)
    return {}


OPERATIONS: dict[str, Operation] = {
    "unpaid_bills": unpaid_bills,
    "bills_relabel": bills_relabel,
    "find_bills": find_bills,
    "bill_details": bill_details,
}
