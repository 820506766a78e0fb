"""Public payment pages and webhooks (outside /api/v1; the intent token is the permission).

- ``GET /pay/{token}``: the bill summary in English and Hindi, with a "pay with a UPI app"
  button (the ``upi://`` intent) when a payee VPA is set. Sandbox intents show two buttons
  that post to ``/pay/{token}/sandbox``; Razorpay intents redirect to the gateway's hosted
  page, or with ``?choose=1`` (where SMS short links land: an SMS cannot carry a tappable
  ``upi://`` link) show the UPI button next to a button to the gateway; paid intents show
  the receipt.
- ``GET /pay/{token}/upi.png``: the QR code of the UPI deep link.
- ``GET /pay/{token}/done``: where the gateway sends the citizen back.
- ``POST /webhooks/payments/razorpay``: Razorpay's signed webhook.
- ``GET /receipts/verify/{code}``: is this receipt genuine?
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from core_api.bills.models import Bill, BillStatus
from core_api.bills.service import SERVICE_NAMES, mask_name
from core_api.db import SessionDep
from core_api.documents import format_day, format_inr, format_moment
from core_api.errors import NotFound, PayloadTooLarge
from core_api.payments.endpoints import upi_link_of
from core_api.payments.gateways import RAZORPAY, SANDBOX, SandboxGateway, gateways_of
from core_api.payments.models import IntentStatus, PaymentIntent, Receipt
from core_api.payments.receipts import ReceiptIssuer, read_verify_code
from core_api.payments.service import settle
from core_api.payments.upi import qr_png
from core_api.tenants.models import Tenant

router = APIRouter(tags=["payment pages"], include_in_schema=True)

FORM_LIFETIME_S = 3600
MAX_WEBHOOK_BYTES = 256 * 1024
_HEADERS = {
    # The token in the URL is the permission: never leak it, never cache the page.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
                               "base-uri 'none'",
}
_CSS = """
body{font-family:system-ui,"Noto Sans","Noto Sans Devanagari",sans-serif;margin:0;
background:#f3f5f8;color:#141414}
main{max-width:30rem;margin:1.5rem auto;background:#fff;border-radius:.6rem;
padding:1.2rem 1.4rem;box-shadow:0 1px 4px #0002}
h1{font-size:1.3rem;margin:.2rem 0 .8rem}.muted{color:#5f5f5f;font-size:.9rem}
table{width:100%;border-collapse:collapse;margin:.8rem 0}
td{padding:.35rem 0;border-bottom:1px solid #e4e4e4;vertical-align:top}
td.amt{text-align:right;white-space:nowrap}tr.total td{font-weight:700;border-bottom:0}
.box{padding:.7rem .9rem;border-radius:.4rem;margin:.8rem 0}
.ok{background:#e5f6ea}.bad{background:#fdeaea}.note{background:#fff6dc}
button{font-size:1rem;padding:.7rem 1rem;border-radius:.4rem;border:0;margin:.3rem .3rem 0 0;
cursor:pointer}.pay{background:#136f3a;color:#fff}.fail{background:#ddd}
a.button{display:block;text-align:center;text-decoration:none;font-size:1rem;
padding:.7rem 1rem;border-radius:.4rem;margin:.5rem 0}.alt{background:#e8eefa;color:#1a3f8f}
img.qr{display:block;margin:.5rem auto;width:12rem;height:12rem}
"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        '<!doctype html><html lang="hi"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def _not_found(message_en: str, message_hi: str, status: int = 404) -> HTMLResponse:
    return _page("Not found / नहीं मिला",
                 f'<h1>{escape(message_en)}</h1><p lang="hi">{escape(message_hi)}</p>', status)


def _form_signature(secret: str, token: str, expires: int) -> str:
    message = f"sandbox-form\n{token}\n{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


async def _intent_by_token(session: Any, token: str) -> tuple[PaymentIntent, Bill] | None:
    if len(token) > 64:
        return None
    row = (await session.execute(
        select(PaymentIntent, Bill).join(Bill, Bill.id == PaymentIntent.bill_id)
        .where(PaymentIntent.token == token)
    )).first()
    return (row[0], row[1]) if row else None


def _bill_summary(bill: Bill, tenant: Tenant | None) -> str:
    name_en, name_hi = SERVICE_NAMES.get(bill.service, (bill.service, bill.service))
    lines = "".join(
        f"<tr><td>{escape(line.label_en)} / {escape(line.label_hi)}</td>"
        f'<td class="amt">{escape(format_inr(line.amount))}</td></tr>' for line in bill.lines
    )
    ulb = f"{escape(tenant.name_en)} / {escape(tenant.name_hi)}" if tenant else ""
    period = f"{format_day(bill.period_from)} – {format_day(bill.period_to)}"
    return (
        f'<p class="muted">{ulb}</p>'
        f"<h1>Pay your bill / बिल भुगतान</h1>"
        f"<p>{escape(name_en)} / {escape(name_hi)}</p>"
        "<table>"
        f"<tr><td>Bill No. / बिल संख्या</td><td class=amt>{escape(bill.bill_number)}</td></tr>"
        f"<tr><td>Consumer No. / उपभोक्ता संख्या</td>"
        f"<td class=amt>{escape(bill.consumer_number)}</td></tr>"
        f"<tr><td>Name / नाम</td><td class=amt>{escape(mask_name(bill.owner_name))}</td></tr>"
        f"<tr><td>Period / अवधि</td><td class=amt>{escape(period)}</td></tr>"
        f"<tr><td>Due date / देय तिथि</td>"
        f"<td class=amt>{escape(format_day(bill.due_date))}</td></tr>"
        "</table><table>"
        f"{lines}<tr class=total><td>Total / कुल राशि</td>"
        f'<td class="amt">{escape(format_inr(bill.total))}</td></tr></table>'
    )


async def _receipt_block(session: Any, request: Request, bill: Bill) -> str:
    receipt = await session.scalar(select(Receipt).where(Receipt.bill_id == bill.id))
    text = ('<div class="box ok"><strong>Paid / भुगतान हो गया</strong>'
            f"<br>{escape(format_moment(bill.paid_at))}" if bill.paid_at else
            '<div class="box ok"><strong>Paid / भुगतान हो गया</strong>')
    if receipt is not None:
        url = ReceiptIssuer.of(request.app.state).verify_url(receipt.receipt_number)
        text += (f"<br>Receipt / रसीद: {escape(receipt.receipt_number)}"
                 f'<br><a href="{escape(url)}">Verify / सत्यापन करें</a>')
    return text + "<br>The receipt has been sent to you in the chat. / रसीद आपको चैट में भेज दी गई है।</div>"  # noqa: E501


@router.get("/pay/{token}", response_class=HTMLResponse, summary="Payment page of an intent")
async def pay_page(token: str, request: Request, session: SessionDep,
                   result: str | None = None, choose: bool = False) -> Response:
    """``choose``: offer the UPI app and the gateway side by side instead of forwarding
    to the gateway (the page an SMS short link opens)."""
    found = await _intent_by_token(session, token)
    if found is None:
        return _not_found("This payment link is not valid.", "यह भुगतान लिंक मान्य नहीं है।")
    intent, bill = found
    if (not choose and intent.status == IntentStatus.OPEN and intent.gateway == RAZORPAY
            and intent.gateway_url and bill.status == BillStatus.ACTIVE):
        return RedirectResponse(intent.gateway_url, status_code=303, headers=_HEADERS)
    tenant = await session.get(Tenant, bill.tenant_code)
    body = _bill_summary(bill, tenant)
    if bill.status == BillStatus.PAID:
        body += await _receipt_block(session, request, bill)
    elif bill.status != BillStatus.ACTIVE:
        body += ('<div class="box bad">This bill was cancelled. / यह बिल रद्द कर दिया गया है।'
                 "</div>")
    elif intent.status != IntentStatus.OPEN:
        body += ('<div class="box bad">This payment link has expired; ask for a new one in the '
                 "chat. / यह भुगतान लिंक समाप्त हो गया है; चैट में नया लिंक माँगें।</div>")
    else:
        if result == "failed":
            body += ('<div class="box bad">The payment failed; no money was taken. You can try '
                     "again. / भुगतान विफल रहा; कोई राशि नहीं कटी। आप फिर से प्रयास कर सकते हैं।"
                     "</div>")
        body += await _payment_options(session, request, intent, bill)
    return _page(f"Pay {bill.bill_number} / बिल भुगतान", body)


async def _payment_options(session: Any, request: Request, intent: PaymentIntent,
                           bill: Bill) -> str:
    settings = request.app.state.settings
    html = ""
    upi = await upi_link_of(session, settings, intent, bill)
    if upi:
        html += (f'<a class="button pay" href="{escape(upi)}">'
                 "Pay with a UPI app / UPI ऐप से भुगतान करें</a>"
                 f'<img class="qr" src="/pay/{escape(intent.token)}/upi.png" '
                 'alt="UPI QR code / UPI क्यूआर कोड">')
    if intent.gateway == RAZORPAY and intent.gateway_url:
        html += (f'<a class="button alt" href="{escape(intent.gateway_url)}">'
                 "Card, net banking or UPI / कार्ड, नेट बैंकिंग या UPI</a>")
    if intent.gateway == SANDBOX and SANDBOX in gateways_of(request.app.state):
        expires = int(time.time()) + FORM_LIFETIME_S
        signature = _form_signature(settings.secret_key, intent.token, expires)
        html += (
            '<div class="box note">Sandbox gateway: no real money moves. / सैंडबॉक्स गेटवे: '
            "कोई वास्तविक भुगतान नहीं होता।</div>"
            f'<form method="post" action="/pay/{escape(intent.token)}/sandbox">'
            f'<input type="hidden" name="exp" value="{expires}">'
            f'<input type="hidden" name="sig" value="{signature}">'
            '<button class="pay" name="outcome" value="success">'
            f"Pay (success) / भुगतान करें (सफल) {escape(format_inr(intent.amount))}</button>"
            '<button class="fail" name="outcome" value="failure">Fail / विफल</button></form>'
        )
    return html


@router.get("/pay/{token}/upi.png", summary="UPI QR code of an intent",
            response_class=Response)
async def pay_qr(token: str, request: Request, session: SessionDep) -> Response:
    found = await _intent_by_token(session, token)
    if found is None:
        raise NotFound("No such payment.", code="intent_not_found")
    intent, bill = found
    link = await upi_link_of(session, request.app.state.settings, intent, bill)
    if link is None:
        raise NotFound("UPI payment is not set up here.", code="upi_not_configured")
    return Response(qr_png(link), media_type="image/png",
                    headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


@router.post("/pay/{token}/sandbox", response_class=HTMLResponse,
             summary="The sandbox gateway's buttons")
async def pay_sandbox(
    token: str,
    request: Request,
    session: SessionDep,
    outcome: Annotated[str, Form(pattern="^(success|failure)$")],
    exp: Annotated[int, Form()],
    sig: Annotated[str, Form(max_length=64)],
) -> Response:
    """Signs a callback the way a gateway would and hands it to the shared callback path."""
    found = await _intent_by_token(session, token)
    gateway = gateways_of(request.app.state).get(SANDBOX)
    if found is None or gateway is None or found[0].gateway != SANDBOX:
        return _not_found("This payment link is not valid.", "यह भुगतान लिंक मान्य नहीं है।")
    intent, _bill = found
    secret = request.app.state.settings.secret_key
    if exp < time.time() or not hmac.compare_digest(
            _form_signature(secret, token, exp).encode(), sig.encode()):  # bytes: any text
        return _not_found("This form has expired; open the payment link again.",
                          "यह फ़ॉर्म समाप्त हो गया है; भुगतान लिंक फिर से खोलें।", status=403)
    assert isinstance(gateway, SandboxGateway)
    payload: dict[str, Any] = {
        "event": "sandbox.payment", "reference": intent.reference, "status": outcome,
        "amount": f"{intent.amount:.2f}", "method": "upi",
    }
    if outcome == "success":
        # One form, one payment id: a double-submitted form is the same payment.
        payload["payment_id"] = "sbx_" + hashlib.sha256(sig.encode()).hexdigest()[:20]
    body = json.dumps(payload).encode()
    callback = gateway.read_callback(body, {gateway.header: gateway.sign(body)})
    await session.close()  # settle() runs its own transaction
    await settle(request.app.state.db, callback, ReceiptIssuer.of(request.app.state))
    result = "success" if outcome == "success" else "failed"
    return RedirectResponse(f"/pay/{token}?result={result}", status_code=303, headers=_HEADERS)


@router.get("/pay/{token}/done", response_class=HTMLResponse,
            summary="Where the gateway sends the citizen back")
async def pay_done(token: str, request: Request, session: SessionDep) -> Response:
    found = await _intent_by_token(session, token)
    if found is None:
        return _not_found("This payment link is not valid.", "यह भुगतान लिंक मान्य नहीं है।")
    _intent, bill = found
    tenant = await session.get(Tenant, bill.tenant_code)
    body = _bill_summary(bill, tenant)
    if bill.status == BillStatus.PAID:
        body += await _receipt_block(session, request, bill)
    else:
        body += ('<div class="box note">We are confirming your payment with the bank; you will '
                 "get a message in the chat. / हम बैंक से आपके भुगतान की पुष्टि कर रहे हैं; "
                 "आपको चैट में संदेश मिलेगा।</div>")
    return _page(f"Payment {bill.bill_number} / भुगतान", body)


@router.post("/webhooks/payments/razorpay", summary="Razorpay webhook (payment links)")
async def razorpay_webhook(request: Request) -> dict[str, str]:
    """Verified with ``X-Razorpay-Signature`` (400 missing, 401 wrong: nothing recorded).
    Events we do not act on, and unknown references, answer 200 with the outcome so
    Razorpay stops retrying; the callback is recorded either way."""
    gateway = gateways_of(request.app.state).get(RAZORPAY)
    if gateway is None:
        raise NotFound("Razorpay is not configured here.", code="gateway_not_configured")
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BYTES:
        raise PayloadTooLarge("The webhook body is too large.")
    callback = gateway.read_callback(body, request.headers)
    outcome = await settle(request.app.state.db, callback, ReceiptIssuer.of(request.app.state))
    return {"status": "ok", "outcome": outcome.outcome.value}


@router.get("/receipts/verify/{code}", response_class=HTMLResponse,
            summary="Public check that a receipt is genuine")
async def verify_receipt(code: str, request: Request, session: SessionDep) -> Response:
    number = read_verify_code(request.app.state.settings.secret_key, code)
    receipt = None
    if number is not None:
        receipt = await session.scalar(select(Receipt).where(Receipt.receipt_number == number))
    if receipt is None:
        return _not_found("This receipt is not genuine: it was not issued by us.",
                          "यह रसीद वास्तविक नहीं है: यह हमारे द्वारा जारी नहीं की गई है।")
    bill = await session.get(Bill, receipt.bill_id)
    tenant = await session.get(Tenant, receipt.tenant_code)
    assert bill is not None
    name_en, name_hi = SERVICE_NAMES.get(bill.service, (bill.service, bill.service))
    ulb = f"{escape(tenant.name_en)} / {escape(tenant.name_hi)}" if tenant else ""
    body = (
        f'<p class="muted">{ulb}</p>'
        '<div class="box ok"><strong>Genuine receipt / वास्तविक रसीद</strong></div>'
        "<table>"
        f"<tr><td>Receipt No. / रसीद संख्या</td>"
        f"<td class=amt>{escape(receipt.receipt_number)}</td></tr>"
        f"<tr><td>Service / सेवा</td><td class=amt>{escape(name_en)} / {escape(name_hi)}</td></tr>"
        f"<tr><td>Amount / राशि</td><td class=amt>{escape(format_inr(receipt.amount))}</td></tr>"
        f"<tr><td>Paid on / भुगतान तिथि</td>"
        f"<td class=amt>{escape(format_moment(receipt.issued_at))}</td></tr>"
        f"<tr><td>Payer / भुगतानकर्ता</td>"
        f"<td class=amt>{escape(mask_name(receipt.payer_name))}</td></tr>"
        "</table>"
    )
    return _page(f"Receipt {receipt.receipt_number} / रसीद", body)
