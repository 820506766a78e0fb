"""Payment intents and the built-in sandbox gateway, end to end through the HTTP pages."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from io import BytesIO
from urllib.parse import urlsplit

from pypdf import PdfReader
from sqlalchemy import func, select

from core_api.db import utcnow
from core_api.events.models import OutboxEvent
from core_api.files import signed_url
from core_api.payments.models import Payment, PaymentCallback, PaymentIntent, Receipt
from core_api.payments.upi import qr_png

SUNITA = "+919876500001"
RAHUL = "+919876500002"


async def _bill(client, auth, phone: str, service: str) -> dict:
    bills = (await client.get("/api/v1/bills", headers=auth.service(phone))).json()
    return next(b for b in bills if b["service"] == service and b["status"] == "ACTIVE")


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _form(html: str) -> dict[str, str]:
    return {name: re.search(rf'name="{name}" value="([^"]+)"', html).group(1)
            for name in ("exp", "sig")}


async def _count(session, model, *where) -> int:
    return await session.scalar(select(func.count()).select_from(model).where(*where))


async def test_intent_amount_comes_from_the_bill(client, auth, settings):
    bill = await _bill(client, auth, SUNITA, "PT")
    url = f"/api/v1/bills/{bill['bill_number']}/payment-intents"
    sunita = auth.service(SUNITA)

    refused = await client.post(url, headers=sunita, json={"amount": "1.00"})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "amount_not_accepted"
    unknown = await client.post(url, headers=sunita, json={"gateway": "free"})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unknown_fields"

    created = await client.post(url, headers=sunita)
    assert created.status_code == 201, created.text
    intent = created.json()
    assert intent["amount"] == "4850.00" and intent["amount_display"] == "₹4,850.00"
    assert intent["gateway"] == "sandbox" and intent["status"] == "OPEN"
    token = intent["payment_url"].rsplit("/", 1)[1]
    assert intent["payment_url"] == f"{settings.public_url}/pay/{token}"
    assert intent["upi_qr_url"] == f"{settings.public_url}/pay/{token}/upi.png"
    assert intent["upi_link"] == (
        "upi://pay?pa=samvad.demo@sandbox&pn=Dehradun%20Municipal%20Corporation&am=4850.00"
        f"&cu=INR&tn={bill['bill_number']}%20Property%20tax&tr={intent['id']}"
    )
    assert re.fullmatch(r"PI[0-9A-F]{14}", intent["id"])
    assert intent["expires_at"] > intent["created_at"]

    # Asking again (with an empty body, or as someone paying for Sunita) returns that intent.
    again = await client.post(url, headers=sunita, json={})
    assert again.status_code == 200 and again.json() == intent
    stranger = await client.post(url, headers=auth.service(RAHUL))
    assert stranger.status_code == 404
    payer = await client.post(url, headers=auth.service(RAHUL),
                              json={"consumer_number": "PT-DDN-20451"})
    assert payer.status_code == 200 and payer.json()["id"] == intent["id"]

    qr = await client.get(_path(intent["upi_qr_url"]))
    assert qr.status_code == 200 and qr.headers["content-type"] == "image/png"
    assert qr.content == qr_png(intent["upi_link"])


async def test_sandbox_page_failure_then_success_issues_a_receipt(client, auth, session,
                                                                  settings):
    bill = await _bill(client, auth, SUNITA, "PT")
    intent = (await client.post(f"/api/v1/bills/{bill['bill_number']}/payment-intents",
                                headers=auth.service(SUNITA))).json()
    page_path = _path(intent["payment_url"])

    page = await client.get(page_path)
    assert page.status_code == 200
    html = page.text
    for expected in ("बिल भुगतान", "कुल राशि", "₹4,850.00", "₹4,600.00", "संपत्ति कर",
                     "देहरादून नगर निगम", "स**** द****", "Pay (success)", "Fail / विफल",
                     bill["bill_number"], "PT-DDN-20451"):
        assert expected in html, expected
    assert "सुनीता" not in html and SUNITA not in html  # the link may be forwarded
    assert page.headers["referrer-policy"] == "no-referrer"
    form = _form(html)

    # A forged or replayed-after-expiry form is refused without touching anything.
    forged = await client.post(f"{page_path}/sandbox",
                               data={**form, "outcome": "success", "sig": "0" * 32})
    assert forged.status_code == 403
    assert await _count(session, PaymentCallback) == 0

    failed = await client.post(f"{page_path}/sandbox", data={**form, "outcome": "failure"})
    assert failed.status_code == 303
    assert failed.headers["location"] == f"{page_path}?result=failed"
    retry = await client.get(failed.headers["location"])
    assert "भुगतान विफल रहा" in retry.text and "Pay (success)" in retry.text
    assert (await client.get(f"/api/v1/bills/{bill['bill_number']}",
                             headers=auth.service(SUNITA))).json()["status"] == "ACTIVE"

    form = _form(retry.text)
    paid = await client.post(f"{page_path}/sandbox", data={**form, "outcome": "success"})
    assert paid.status_code == 303
    done = await client.get(paid.headers["location"])
    assert "भुगतान हो गया" in done.text and "Pay (success)" not in done.text
    receipt_number = re.search(r"RCPT-DDN-\d{4}-\d{6}", done.text).group(0)

    # The same form posted again, and a late "Fail", change nothing.
    assert (await client.post(f"{page_path}/sandbox",
                              data={**form, "outcome": "success"})).status_code == 303
    assert (await client.post(f"{page_path}/sandbox",
                              data={**form, "outcome": "failure"})).status_code == 303
    outcomes = list(await session.scalars(
        select(PaymentCallback.outcome).order_by(PaymentCallback.id)))
    assert outcomes == ["failed", "paid", "duplicate", "late_failure"]
    assert await _count(session, Payment, Payment.status == "SUCCESS",
                        Payment.gateway == "sandbox", Payment.intent_id.is_not(None)) == 1

    after = (await client.get(f"/api/v1/bills/{bill['bill_number']}",
                              headers=auth.service(SUNITA))).json()
    assert after["status"] == "PAID" and after["paid_at"] is not None
    closed = await client.post(f"/api/v1/bills/{bill['bill_number']}/payment-intents",
                               headers=auth.service(SUNITA))
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "bill_paid"
    stored = await session.scalar(select(PaymentIntent).where(
        PaymentIntent.reference == intent["id"]))
    assert stored.status == "PAID" and stored.open_bill_id is None and stored.failures == 1

    [event] = list(await session.scalars(
        select(OutboxEvent).where(OutboxEvent.topic == "payment.completed")))
    payload = event.payload
    assert payload["bill_number"] == bill["bill_number"] and payload["service"] == "PT"
    assert payload["tenant"] == "uk.dehradun" and payload["amount"] == "4850.00"
    assert payload["receipt_number"] == receipt_number
    assert payload["payer_phone"] == SUNITA and payload["payer_locale"] == "hi_IN"
    assert payload["payer_user_id"] is not None
    assert payload["receipt_link"].startswith(f"{settings.public_url}/files/receipts/")

    # The receipt: listed first for its owner, PDF behind a signed link.
    receipts = (await client.get("/api/v1/receipts", headers=auth.service(SUNITA))).json()
    assert receipts[0]["receipt_number"] == receipt_number
    receipt = (await client.get(f"/api/v1/receipts/{receipt_number}",
                                headers=auth.service(SUNITA))).json()
    assert receipt["amount"] == "4850.00" and receipt["bill_number"] == bill["bill_number"]
    assert receipt["mode"] == "UPI" and receipt["transaction_id"].startswith("sbx_")
    pdf = await client.get(_path(receipt["pdf_url"]))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = PdfReader(BytesIO(pdf.content)).pages[0].extract_text()
    for expected in (receipt_number, "रसीद", "₹4,850.00", "PT-DDN-20451",
                     receipt["verify_url"]):
        assert expected in text, expected
    assert (await client.get(_path(receipt["pdf_url"]).replace("sig=", "sig=0"))
            ).status_code == 403
    key = await session.scalar(select(Receipt.file_key).where(
        Receipt.receipt_number == receipt_number))
    expired = signed_url(settings.public_url, settings.secret_key, key, lifetime_s=-60)
    assert (await client.get(_path(expired))).status_code == 403
    # Someone else's receipt does not exist for them.
    assert (await client.get(f"/api/v1/receipts/{receipt_number}",
                             headers=auth.service(RAHUL))).status_code == 404

    # The public verify page: genuine vs tampered.
    genuine = await client.get(_path(receipt["verify_url"]))
    assert genuine.status_code == 200
    for expected in ("Genuine receipt", receipt_number, "₹4,850.00", "स**** द****"):
        assert expected in genuine.text, expected
    code = receipt["verify_url"].rsplit("/", 1)[1]
    forged_number = code.replace(receipt_number, receipt_number[:-1] + "9")
    for bad in (forged_number, code[:-1] + ("0" if code[-1] != "0" else "1"), "nonsense"):
        response = await client.get(f"/receipts/verify/{bad}")
        assert response.status_code == 404 and "not genuine" in response.text, bad


async def test_seeded_receipt_renders_on_first_download(client, auth, session):
    rahul = auth.service(RAHUL)
    [receipt] = (await client.get("/api/v1/receipts", headers=rahul)).json()
    assert re.fullmatch(r"RCPT-DDN-2026-\d{6}", receipt["receipt_number"])
    assert receipt["amount"] == "3140.00" and receipt["payer_name"] == "Rahul Verma"
    assert receipt["consumer_number"] == "PT-DDN-31877"
    pdf = await client.get(_path(receipt["pdf_url"]))
    text = PdfReader(BytesIO(pdf.content)).pages[0].extract_text()
    assert receipt["receipt_number"] in text and "₹3,140.00" in text and "रसीद" in text
    key = await session.scalar(select(Receipt.file_key).where(
        Receipt.receipt_number == receipt["receipt_number"]))
    assert key is not None  # rendered once, kept

    assert (await client.get("/api/v1/receipts", headers=auth.service(SUNITA))).json() == []
    gro = await auth.staff("gro.dehradun")
    listed = await client.get("/api/v1/receipts", headers=gro, params={"tenant": "uk.dehradun"})
    assert [r["receipt_number"] for r in listed.json()] == [receipt["receipt_number"]]
    one = await client.get(f"/api/v1/receipts/{receipt['receipt_number']}", headers=gro)
    assert one.status_code == 200 and one.json()["pdf_url"]
    other_city = await client.get("/api/v1/receipts", headers=gro,
                                  params={"tenant": "uk.haridwar"})
    assert other_city.status_code == 403


async def test_expired_intent_is_replaced(client, auth, session):
    bill = await _bill(client, auth, RAHUL, "WS")
    url = f"/api/v1/bills/{bill['bill_number']}/payment-intents"
    first = (await client.post(url, headers=auth.service(RAHUL))).json()
    old_form = _form((await client.get(_path(first["payment_url"]))).text)
    intent = await session.scalar(select(PaymentIntent).where(
        PaymentIntent.reference == first["id"]))
    intent.expires_at = utcnow() - timedelta(minutes=1)
    await session.commit()
    second = await client.post(url, headers=auth.service(RAHUL))
    assert second.status_code == 201 and second.json()["id"] != first["id"]
    assert second.json()["amount"] == "634.00"
    await session.refresh(intent)
    assert intent.status == "EXPIRED" and intent.open_bill_id is None
    old_page = await client.get(_path(first["payment_url"]))
    assert "expired" in old_page.text and "Pay (success)" not in old_page.text
    assert (await client.get("/pay/not-a-token")).status_code == 404

    # Money that still arrives on the expired link counts; the newer intent is closed.
    paid = await client.post(f"{_path(first['payment_url'])}/sandbox",
                             data={**old_form, "outcome": "success"})
    assert paid.status_code == 303
    statuses = dict((await session.execute(
        select(PaymentIntent.reference, PaymentIntent.status)
        .execution_options(populate_existing=True))).all())
    assert statuses == {first["id"]: "PAID", second.json()["id"]: "CANCELLED"}
    new_page = await client.get(_path(second.json()["payment_url"]))
    assert "भुगतान हो गया" in new_page.text and "Pay (success)" not in new_page.text


async def test_concurrent_requests_share_one_open_intent(client, auth, session):
    bill = await _bill(client, auth, SUNITA, "WS")
    url = f"/api/v1/bills/{bill['bill_number']}/payment-intents"
    responses = await asyncio.gather(*(client.post(url, headers=auth.service(SUNITA))
                                       for _ in range(3)))
    assert sorted(r.status_code for r in responses) == [200, 200, 201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await _count(session, PaymentIntent, PaymentIntent.status == "OPEN") == 1
