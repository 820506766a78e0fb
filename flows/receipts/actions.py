"""Receipts of past payments: the operations of flow receipts."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from bot.core_client import CallContext, CoreClient, Operation
from bot.i18n import SOURCE_LOCALE, format_amount, has_message, lang, translate
from bot.shared_actions import channel_of

RECEIPTS_LISTED = 5
RECEIPTS_LISTED_BY_SEGMENT = 3  # an SMS list must fit its segment budget in Hindi


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


async def list_receipts(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """The citizen's latest receipts, newest first: ``{count, items: [{number, label,
    paid_at}]}``; the label ("₹3,140.00 · Property tax") reads well even without the rest."""
    locale = ctx.session.locale
    by_segment = channel_of(ctx.session).segment_budget is not None
    limit = RECEIPTS_LISTED_BY_SEGMENT if by_segment else RECEIPTS_LISTED
    rows = await client.request("GET", "/api/v1/receipts", ctx.phone,
                                params={"limit": limit}) or []
    items = [{"number": r["receipt_number"],
              "label": f"{format_amount(r['amount'], locale)} · {_service_name(r, locale)}",
              "paid_at": r["issued_at"]} for r in rows]
    return {"count": len(items), "items": items}


async def get_receipt(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """One receipt with its signed PDF link (``pdf`` is a media list for ``say`` steps)."""
    number = quote(str(args["number"]), safe="")
    row = await client.request("GET", f"/api/v1/receipts/{number}", ctx.phone)
    return {"number": row["receipt_number"], "service": _service_name(row, ctx.session.locale),
            "amount": row["amount"], "paid_at": row["issued_at"], "pdf": _receipt_pdf(row)}


async def receipts_relabel(client: CoreClient, args: dict[str, Any],
                           ctx: CallContext) -> Any:
    """After a language switch at the list (the flow's ``relabel``): the receipts listed
    again, their labels in the session's language."""
    if "receipts" in ctx.session.slots:
        ctx.session.slots["receipts"] = await list_receipts(client, args, ctx)
    return {}


OPERATIONS: dict[str, Operation] = {
    "list_receipts": list_receipts,
    "receipts_relabel": receipts_relabel,
    "get_receipt": get_receipt,
}
