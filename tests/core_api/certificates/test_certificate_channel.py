"""Issue 17: a certificate request remembers the chat channel it was made on, and its events
say it (``channel``); a request waiting for approval names the registrars to tell
(``approvers``: active REGISTRAR staff whose grant covers the city, in their language)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from core_api.certificates.models import CertificateRequest
from core_api.payments.gateways import GatewayCallback
from core_api.payments.receipts import ReceiptIssuer
from core_api.payments.service import Outcome, settle
from core_api.users.models import User, UserKind, UserRole
from tests.event_examples import published

REQUESTS = "/api/v1/certificate-requests"
SUNITA, RAHUL = "+919876500001", "+919876500002"
REGISTRAR = ("+919876510004", "en_IN")  # registrar.dehradun in the demo data


def _registrar(phone: str, locale: str, tenant: str, *, active: bool = True,
               role: str = "REGISTRAR") -> User:
    return User(kind=UserKind.EMPLOYEE, phone=phone, name=f"Registrar {phone[-4:]}",
                locale=locale, tenant_code=tenant, active=active,
                roles=[UserRole(role=role, tenant_code=tenant)])


async def test_a_fee_paid_over_sms_keeps_every_event_on_sms(client, auth, app, session):
    session.add_all([
        _registrar("+919876517771", "pa_IN", "uk"),  # a state grant covers Dehradun
        _registrar("+919876517772", "hi_IN", "uk.dehradun", active=False),
        _registrar("+919876517773", "hi_IN", "uk.haridwar"),
        _registrar("+919876517774", "or_IN", "uk.dehradun", role="CSR"),
    ])
    await session.commit()
    rahul = auth.service(RAHUL)
    created = await client.post(REQUESTS, headers=rahul, json={
        "registration_number": "B-DDN-2019-00123", "copies": 2, "relation": "other",
        "channel": "sms"})
    assert created.status_code == 201, created.text
    number = created.json()["request_number"]
    bill_number = created.json()["fee_bill_number"]
    stored = await session.scalar(select(CertificateRequest.channel).where(
        CertificateRequest.request_number == number))
    assert stored == "sms"

    intent = await client.post(f"/api/v1/bills/{bill_number}/payment-intents", headers=rahul,
                               json={"channel": "sms"})
    assert intent.status_code == 201, intent.text
    outcome = await settle(app.state.db, GatewayCallback(
        gateway="sandbox", event="payment.captured", result="success",
        intent_reference=intent.json()["id"], gateway_payment_id="pay_cert_sms_1",
        amount=Decimal("100.00")), ReceiptIssuer.of(app.state))
    assert outcome.outcome is Outcome.PAID
    approved = await client.post(f"{REQUESTS}/{number}/actions",
                                 headers=await auth.staff("registrar.dehradun"),
                                 json={"action": "APPROVE"})
    assert approved.status_code == 200 and approved.json()["status"] == "ISSUED"

    changes = await published(session, number, "certificate.status_changed")
    assert [(c["status"], c["channel"]) for c in changes] == [
        ("PENDINGPAYMENT", "sms"), ("PENDINGAPPROVAL", "sms"), ("ISSUED", "sms")]
    waiting = changes[1]
    assert [(a["phone"], a["locale"]) for a in waiting["approvers"]] == [
        REGISTRAR, ("+919876517771", "pa_IN")]
    assert all(a["user_id"] for a in waiting["approvers"])
    assert "approvers" not in changes[0] and "approvers" not in changes[2]
    [issued] = await published(session, number, "certificate.issued")
    assert issued["channel"] == "sms" and issued["citizen_phone"] == RAHUL
    [paid] = await published(session, bill_number, "payment.completed")
    assert paid["channel"] == "sms"


async def test_channel_is_optional_and_validated(client, auth, session, bnd):
    sunita = auth.service(SUNITA)
    for bad in ("e-mail", "WhatsApp", "", 3):
        record = await bnd.recent_registration()
        refused = await client.post(REQUESTS, headers=sunita, json={
            "registration_number": record.registration_number, "relation": "parent",
            "channel": bad})
        assert refused.status_code == 422, bad
        assert refused.json()["error"]["code"] == "validation_error"
    assert await session.scalar(select(CertificateRequest.id)) is None  # nothing was made

    # Over WhatsApp, free of charge: straight to the registrars, on WhatsApp.
    record = await bnd.recent_registration()
    made = await client.post(REQUESTS, headers=sunita, json={
        "registration_number": record.registration_number, "relation": "parent",
        "channel": "whatsapp"})
    assert made.status_code == 201, made.text
    applied, waiting = await published(session, made.json()["request_number"],
                                     "certificate.status_changed")
    assert [(e["action"], e["status"], e["channel"]) for e in (applied, waiting)] == [
        ("APPLY", "PENDINGPAYMENT", "whatsapp"), ("PAY", "PENDINGAPPROVAL", "whatsapp")]
    assert [(a["phone"], a["locale"]) for a in waiting["approvers"]] == [REGISTRAR]

    # Filed by a CSR at the counter: no chat channel; the notifier picks the last one used.
    other = await bnd.recent_registration()
    counter = await client.post(REQUESTS, headers=await auth.staff("gro.dehradun"), json={
        "registration_number": other.registration_number, "applicant_name": "Rahul Verma",
        "applicant_phone": RAHUL, "relation": "child"})
    assert counter.status_code == 201, counter.text
    events = await published(session, counter.json()["request_number"],
                           "certificate.status_changed")
    assert [(e["status"], e["channel"], e["citizen_phone"]) for e in events] == [
        ("PENDINGPAYMENT", None, RAHUL), ("PENDINGAPPROVAL", None, RAHUL)]
