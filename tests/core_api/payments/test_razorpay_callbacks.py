"""Razorpay payment links and webhooks against a local fake; every callback abuse case."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
from razorpay_fake import (
    KEY_ID,
    KEY_SECRET,
    WEBHOOK_SECRET,
    paid_event,
    razorpay_fake,
)
from sqlalchemy import func, select

from core_api.bills.models import Bill
from core_api.events.models import OutboxEvent
from core_api.payments import hooks
from core_api.payments.gateways import GatewayCallback, RazorpayGateway, hmac_hex
from core_api.payments.models import Payment, PaymentCallback, PaymentIntent, Receipt
from core_api.payments.receipts import ReceiptIssuer
from core_api.payments.service import Outcome, settle

SUNITA = "+919876500001"
RAHUL = "+919876500002"
WEBHOOK = "/webhooks/payments/razorpay"


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={
        "payment_gateway": "razorpay", "razorpay_key_id": KEY_ID,
        "razorpay_key_secret": KEY_SECRET, "razorpay_webhook_secret": WEBHOOK_SECRET,
        "razorpay_api_base": "https://rzp.local", "upi_vpa": "ddn.nagarnigam@sbi",
    })


@pytest.fixture
def razorpay_requests(app):
    seen = []
    app.state.payment_gateways = {"razorpay": RazorpayGateway(
        KEY_ID, KEY_SECRET, WEBHOOK_SECRET, "https://rzp.local", transport=razorpay_fake(seen))}
    return seen


@pytest.fixture
def paid_hook(monkeypatch):
    """Records every on_bill_paid call for property tax (registered for this test only)."""
    calls = []

    async def hook(session, bill, payment):
        calls.append((bill.bill_number, payment.id, payment.amount))
        assert session.in_transaction()

    monkeypatch.setitem(hooks._hooks, "PT", [])
    hooks.on_bill_paid("PT", hook)
    hooks.on_bill_paid("PT", hook)  # registering twice is a no-op
    return calls


async def _intent(client, auth, phone, service):
    bills = (await client.get("/api/v1/bills", headers=auth.service(phone))).json()
    bill = next(b for b in bills if b["service"] == service and b["status"] == "ACTIVE")
    response = await client.post(f"/api/v1/bills/{bill['bill_number']}/payment-intents",
                                 headers=auth.service(phone))
    assert response.status_code == 201, response.text
    return bill, response.json()


def _signed(event: dict) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event).encode()
    return body, {"X-Razorpay-Signature": hmac_hex(WEBHOOK_SECRET, body),
                  "Content-Type": "application/json"}


async def _post(client, event: dict) -> dict:
    body, headers = _signed(event)
    response = await client.post(WEBHOOK, content=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _count(session, model, *where) -> int:
    return await session.scalar(select(func.count()).select_from(model).where(*where))


async def test_razorpay_link_is_created_and_the_pay_page_redirects(
        app, client, auth, session, razorpay_requests):
    _bill, intent = await _intent(client, auth, SUNITA, "WS")
    assert intent["gateway"] == "razorpay" and intent["amount"] == "1236.50"
    assert intent["upi_link"].startswith("upi://pay?pa=ddn.nagarnigam@sbi&")
    [request] = razorpay_requests
    body = json.loads(request.content)
    assert body["amount"] == 123650 and body["reference_id"] == intent["id"]
    assert body["customer"]["contact"] == SUNITA
    stored = await session.scalar(select(PaymentIntent).where(
        PaymentIntent.reference == intent["id"]))
    assert stored.gateway_order_id == "plink_PqRs7TuVw8XyZa"

    # The link we hand out is on our origin and forwards to Razorpay's hosted page.
    page = await client.get(intent["payment_url"].replace("http://127.0.0.1:8000", ""))
    assert page.status_code == 303 and page.headers["location"] == "https://rzp.io/rzp/Hx7q2Lm"

    # The gateway down: 503, and no intent is left behind.
    failing = []
    app.state.payment_gateways = {"razorpay": RazorpayGateway(
        KEY_ID, KEY_SECRET, WEBHOOK_SECRET, "https://rzp.local",
        transport=razorpay_fake(failing, status=500))}
    rahul_bills = (await client.get("/api/v1/bills", headers=auth.service(RAHUL))).json()
    ws = next(b for b in rahul_bills if b["status"] == "ACTIVE")
    down = await client.post(f"/api/v1/bills/{ws['bill_number']}/payment-intents",
                             headers=auth.service(RAHUL))
    assert down.status_code == 503 and down.json()["error"]["code"] == "gateway_error"
    assert len(failing) == 1
    assert await _count(session, PaymentIntent) == 1


async def test_webhook_signature_is_required(client, auth, session, razorpay_requests):
    bill, intent = await _intent(client, auth, SUNITA, "PT")
    body, _ = _signed(paid_event(intent["id"], 485000))
    missing = await client.post(WEBHOOK, content=body)
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "signature_missing"
    wrong = await client.post(WEBHOOK, content=body,
                              headers={"X-Razorpay-Signature": hmac_hex("guess", body)})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "bad_signature"
    assert await _count(session, PaymentCallback) == 0
    assert await _count(session, Payment) == 1  # only the seeded demo payment
    assert await session.scalar(select(Bill.status).where(
        Bill.bill_number == bill["bill_number"])) == "ACTIVE"


async def test_callbacks_are_idempotent_and_abuse_is_recorded(
        client, auth, session, razorpay_requests, paid_hook):
    pt, pt_intent = await _intent(client, auth, SUNITA, "PT")
    ws, ws_intent = await _intent(client, auth, SUNITA, "WS")

    # Wrong amount: recorded as MISMATCH, bill stays unpaid, no receipt, staff alerted.
    result = await _post(client, paid_event(ws_intent["id"], 100, "pay_Short0001"))
    assert result["outcome"] == "amount_mismatch"
    mismatch = await session.scalar(select(Payment).where(
        Payment.gateway_payment_id == "pay_Short0001"))
    assert mismatch.status == "MISMATCH" and mismatch.amount == Decimal("1.00")
    assert await _count(session, Receipt, Receipt.payment_id == mismatch.id) == 0
    assert await session.scalar(select(Bill.status).where(
        Bill.bill_number == ws["bill_number"])) == "ACTIVE"
    assert await _count(session, OutboxEvent, OutboxEvent.topic == "payment.needs_review") == 1

    # The right amount: paid once, however often Razorpay repeats it.
    assert (await _post(client, paid_event(pt_intent["id"], 485000)))["outcome"] == "paid"
    assert (await _post(client, paid_event(pt_intent["id"], 485000)))["outcome"] == "duplicate"
    payments = list(await session.scalars(select(Payment).where(
        Payment.gateway_payment_id == "pay_PqRsA1b2C3d4E5")))
    assert len(payments) == 1 and payments[0].status == "SUCCESS"
    assert payments[0].mode == "UPI" and payments[0].gateway == "razorpay"
    assert paid_hook == [(pt["bill_number"], payments[0].id, Decimal("4850.00"))]
    assert await _count(session, Receipt, Receipt.payment_id == payments[0].id) == 1

    # A failure arriving after the success is recorded and ignored.
    late = {"event": "payment.failed", "payload": {"payment": {"entity": {
        "id": "pay_Late0001", "status": "failed", "amount": 485000, "method": "card",
        "notes": {"samvad_reference": pt_intent["id"]}}}}}
    assert (await _post(client, late))["outcome"] == "late_failure"
    # Another successful payment for the paid bill: money to refund, not a second receipt.
    again = await _post(client, paid_event(pt_intent["id"], 485000, "pay_Second0001"))
    assert again["outcome"] == "refund_due"
    assert await session.scalar(select(Bill.status).where(
        Bill.bill_number == pt["bill_number"])) == "PAID"

    # Unknown references and events we do not act on: 200, recorded, nothing else.
    assert (await _post(client, paid_event("PI-NOT-OURS", 485000, "pay_X")))["outcome"] == (
        "unknown_intent")
    assert (await _post(client, {"event": "refund.processed", "payload": {}}))["outcome"] == (
        "ignored")

    outcomes = list(await session.scalars(
        select(PaymentCallback.outcome).order_by(PaymentCallback.id)))
    assert outcomes == ["amount_mismatch", "paid", "duplicate", "late_failure", "refund_due",
                        "unknown_intent", "ignored"]
    assert await _count(session, Payment, Payment.gateway == "razorpay") == 3
    assert await _count(session, Payment, Payment.gateway == "razorpay",
                        Payment.status == "SUCCESS") == 1
    assert await _count(session, OutboxEvent, OutboxEvent.topic == "payment.completed") == 1
    assert paid_hook == [(pt["bill_number"], payments[0].id, Decimal("4850.00"))]

    # Back from Razorpay: the paid bill shows its receipt, the other one waits for the bank.
    def done(intent):
        return intent["payment_url"].replace("http://127.0.0.1:8000", "") + "/done"

    paid_page = (await client.get(done(pt_intent))).text
    assert "भुगतान हो गया" in paid_page and "RCPT-DDN-" in paid_page
    assert "पुष्टि" in (await client.get(done(ws_intent))).text

    # The water bill is still payable with its open intent and the right amount.
    assert (await _post(client, paid_event(ws_intent["id"], 123650, "pay_Water0001")))[
        "outcome"] == "paid"


def _success(reference: str, payment_id: str) -> GatewayCallback:
    return GatewayCallback(gateway="razorpay", event="payment_link.paid", result="success",
                           intent_reference=reference, gateway_payment_id=payment_id,
                           amount=Decimal("4850.00"), mode="UPI")


async def test_concurrent_duplicate_callbacks_make_one_payment(
        app, client, auth, session, razorpay_requests, paid_hook):
    _pt, intent = await _intent(client, auth, SUNITA, "PT")
    issuer = ReceiptIssuer.of(app.state)
    callback = _success(intent["id"], "pay_Race0001")
    results = await asyncio.gather(*(settle(app.state.db, callback, issuer) for _ in range(3)))
    assert sorted(r.outcome for r in results) == [
        Outcome.DUPLICATE, Outcome.DUPLICATE, Outcome.PAID]
    assert await _count(session, Payment, Payment.gateway_payment_id == "pay_Race0001") == 1
    assert await _count(session, Receipt, Receipt.bill_id == results[0].bill.id) == 1
    assert await _count(session, PaymentCallback) == 3
    assert len(paid_hook) == 1


async def test_a_failing_hook_leaves_no_payment_behind(
        app, client, auth, session, razorpay_requests, monkeypatch):
    pt, intent = await _intent(client, auth, SUNITA, "PT")

    async def broken(session, bill, payment):
        raise RuntimeError("certificate service is down")

    monkeypatch.setitem(hooks._hooks, "PT", [broken])
    issuer = ReceiptIssuer.of(app.state)
    callback = _success(intent["id"], "pay_Hook0001")
    with pytest.raises(RuntimeError):
        await settle(app.state.db, callback, issuer)
    assert await _count(session, Payment, Payment.gateway_payment_id == "pay_Hook0001") == 0
    assert await session.scalar(select(Bill.status).where(
        Bill.bill_number == pt["bill_number"])) == "ACTIVE"
    assert list(await session.scalars(select(PaymentCallback.outcome))) == ["error"]

    monkeypatch.setitem(hooks._hooks, "PT", [])
    assert (await settle(app.state.db, callback, issuer)).outcome is Outcome.PAID
