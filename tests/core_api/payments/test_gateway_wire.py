"""Wire formats without a database: UPI links, Razorpay links and webhooks, sandbox signing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from razorpay_fake import KEY_ID, KEY_SECRET, WEBHOOK_SECRET, paid_event, razorpay_fake

from core_api.errors import BadRequest, ServiceUnavailable, Unauthorized
from core_api.payments.gateways import (
    LinkRequest,
    RazorpayGateway,
    SandboxGateway,
    hmac_hex,
)
from core_api.payments.upi import qr_png, upi_link
from samvad.settings import ConfigurationError, Settings


def test_upi_link_exact_format():
    link = upi_link(vpa="ddn.nagarnigam@sbi", payee="Dehradun Municipal Corporation",
                    amount=Decimal("1236.5"), note="BILL-DDN-2026-000002 Water & sewerage",
                    reference="PI0A1B2C3D4E5F6A")
    assert link == (
        "upi://pay?pa=ddn.nagarnigam@sbi&pn=Dehradun%20Municipal%20Corporation"
        "&am=1236.50&cu=INR&tn=BILL-DDN-2026-000002%20Water%20%26%20sewerage"
        "&tr=PI0A1B2C3D4E5F6A"
    )
    assert qr_png(link).startswith(b"\x89PNG\r\n\x1a\n")


async def test_razorpay_creates_a_payment_link():
    seen: list[httpx.Request] = []
    gateway = RazorpayGateway(KEY_ID, KEY_SECRET, WEBHOOK_SECRET, "https://rzp.local",
                              transport=razorpay_fake(seen))
    expires = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    link = await gateway.create_link(LinkRequest(
        reference="PI0A1B2C3D4E5F6A", amount=Decimal("4850.00"),
        description="Property tax BILL-DDN-2026-000001", customer_name="सुनीता देवी",
        customer_phone="+919876500001", callback_url="https://samvad.example/pay/tok/done",
        expires_at=expires, notes={"bill_number": "BILL-DDN-2026-000001"},
    ))
    assert link.order_id == "plink_PqRs7TuVw8XyZa" and link.url == "https://rzp.io/rzp/Hx7q2Lm"
    [request] = seen
    assert str(request.url) == "https://rzp.local/v1/payment_links"
    body = json.loads(request.content)
    assert body["amount"] == 485000 and body["currency"] == "INR"
    assert body["reference_id"] == "PI0A1B2C3D4E5F6A" and body["accept_partial"] is False
    assert body["customer"] == {"name": "सुनीता देवी", "contact": "+919876500001"}
    assert body["notify"] == {"sms": False, "email": False}
    assert body["expire_by"] == int(expires.timestamp())
    assert body["callback_url"] == "https://samvad.example/pay/tok/done"

    wrong_keys = RazorpayGateway(KEY_ID, "not-the-secret", WEBHOOK_SECRET, "https://rzp.local",
                                 transport=razorpay_fake(seen))
    with pytest.raises(ServiceUnavailable) as refused:
        await wrong_keys.create_link(LinkRequest(
            reference="PI1", amount=Decimal("1.00"), description="x", customer_name="x",
            customer_phone=None, callback_url="https://x/", expires_at=expires))
    assert refused.value.code == "gateway_error"


def test_razorpay_webhook_parsing_and_signatures():
    gateway = RazorpayGateway(KEY_ID, KEY_SECRET, WEBHOOK_SECRET)
    body = json.dumps(paid_event("PI0A1B2C3D4E5F6A", 123650)).encode()
    callback = gateway.read_callback(body, {
        "X-Razorpay-Signature": hmac_hex(WEBHOOK_SECRET, body),
        "X-Razorpay-Event-Id": "evt_PqRs0001"})
    assert callback.result == "success" and callback.event == "payment_link.paid"
    assert callback.intent_reference == "PI0A1B2C3D4E5F6A"
    assert callback.amount == Decimal("1236.50") and callback.mode == "UPI"
    assert callback.gateway_payment_id == "pay_PqRsA1b2C3d4E5"
    assert callback.event_id == "evt_PqRs0001"

    with pytest.raises(BadRequest) as missing:
        gateway.read_callback(body, {})
    assert missing.value.code == "signature_missing"
    with pytest.raises(Unauthorized):
        gateway.read_callback(body, {"X-Razorpay-Signature": hmac_hex("other", body)})
    with pytest.raises(Unauthorized):  # one byte changed after signing
        gateway.read_callback(body.replace(b"123650", b"123600"),
                              {"X-Razorpay-Signature": hmac_hex(WEBHOOK_SECRET, body)})

    expired = json.dumps({"event": "payment_link.expired", "payload": {"payment_link": {
        "entity": {"id": "plink_1", "reference_id": "PI9", "status": "expired",
                   "amount": 100}}}}).encode()
    parsed = gateway.read_callback(expired,
                                   {"x-razorpay-signature": hmac_hex(WEBHOOK_SECRET, expired)})
    assert parsed.result == "failure" and parsed.intent_reference == "PI9"
    other = json.dumps({"event": "refund.processed", "payload": {}}).encode()
    assert gateway.read_callback(
        other, {"X-Razorpay-Signature": hmac_hex(WEBHOOK_SECRET, other)}).result == "other"


def test_sandbox_callbacks_are_signed_with_a_derived_key():
    gateway = SandboxGateway("test-secret-key-that-is-long-enough-0123456789")
    body = json.dumps({"reference": "PI1", "status": "success", "amount": "10.00",
                       "payment_id": "sbx_1"}).encode()
    callback = gateway.read_callback(body, {gateway.header: gateway.sign(body)})
    assert callback.result == "success" and callback.amount == Decimal("10.00")
    # The derived key is not the secret key itself.
    with pytest.raises(Unauthorized):
        gateway.read_callback(body, {gateway.header: hmac_hex(
            "test-secret-key-that-is-long-enough-0123456789", body)})


def test_gateway_choice_from_settings():
    key = "k" * 40
    development = Settings(SAMVAD_ENV="development")
    assert development.active_payment_gateway == "sandbox"
    assert development.active_upi_vpa == "samvad.demo@sandbox"
    production = Settings(SAMVAD_ENV="production", SAMVAD_SECRET_KEY=key)
    assert production.active_payment_gateway is None  # no silent sandbox in production
    assert production.active_upi_vpa is None
    razorpay = Settings(SAMVAD_ENV="production", SAMVAD_SECRET_KEY=key, RAZORPAY_KEY_ID="a",
                        RAZORPAY_KEY_SECRET="b", RAZORPAY_WEBHOOK_SECRET="c",
                        SAMVAD_UPI_VPA="ddn.nagarnigam@sbi")
    assert razorpay.active_payment_gateway == "razorpay"
    assert razorpay.active_upi_vpa == "ddn.nagarnigam@sbi"
    assert razorpay.razorpay_api_base == "https://api.razorpay.com"
    with pytest.raises(ConfigurationError, match="RAZORPAY_WEBHOOK_SECRET"):
        Settings(SAMVAD_ENV="development", SAMVAD_PAYMENT_GATEWAY="razorpay",
                 RAZORPAY_KEY_ID="a", RAZORPAY_KEY_SECRET="b")
