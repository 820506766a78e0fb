"""Certificate requests through the BND-CERT workflow: apply, fee, approve, issue, refuse."""

from __future__ import annotations

import re
from decimal import Decimal
from io import BytesIO

from pypdf import PdfReader
from sqlalchemy import select

from core_api.events.models import OutboxEvent
from core_api.payments.gateways import GatewayCallback
from core_api.payments.receipts import ReceiptIssuer
from core_api.payments.service import Outcome, settle

REQUESTS = "/api/v1/certificate-requests"
SUNITA, RAHUL = "+919876500001", "+919876500002"


async def test_free_copy_lifecycle_issues_a_verifiable_pdf(client, auth, session, bnd):
    record = await bnd.recent_registration()
    citizen = auth.service(SUNITA)
    created = await client.post(REQUESTS, headers=citizen, json={
        "registration_number": record.registration_number.lower(), "relation": "parent"})
    assert created.status_code == 201, created.text
    body = created.json()
    number = body["request_number"]
    assert re.fullmatch(rf"CR-DDN-{bnd.today().year}-\d{{6}}", number)
    assert body["status"] == "PENDINGAPPROVAL"  # no fee: Samvad took PAY itself
    assert body["fee"] == "0.00" and body["fee_bill_number"] is None
    assert body["name"] == "I***** R****" and body["actions"] == []
    assert body["download_url"] is None

    process = (await client.get(f"/api/v1/workflow/processes/BND-CERT/{number}",
                                headers=citizen)).json()
    assert [(h["action"], h["actor_role"], h["comment"]) for h in process["history"]] == [
        ("APPLY", "CITIZEN", None), ("PAY", "SYSTEM", "no fee")]

    # Refusals before the registrar acts.
    other = auth.service(RAHUL)
    assert (await client.get(f"{REQUESTS}/{number}", headers=other)).status_code == 404
    assert (await bnd.act(other, number, "APPROVE")).status_code == 404
    assert [r["request_number"] for r in (await client.get(REQUESTS, headers=other)).json()
            ] == []
    refused = await bnd.act(citizen, number, "APPROVE")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "action_forbidden"
    lme = await auth.staff("lme.electrical.dehradun")
    assert (await bnd.act(lme, number, "APPROVE")).status_code == 403
    assert (await client.get(f"{REQUESTS}/{number}", headers=lme)).status_code == 403

    registrar = await auth.staff("registrar.dehradun")
    inbox = await client.get(REQUESTS, headers=registrar, params={"status": "PENDINGAPPROVAL"})
    assert number in [r["request_number"] for r in inbox.json()]
    assert inbox.json()[0]["name"] == "Ishaan Rawat"  # staff see the name whole
    detail = (await client.get(f"{REQUESTS}/{number}", headers=registrar)).json()
    assert detail["actions"] == ["APPROVE", "REJECT"]

    approved = await bnd.act(registrar, number, "APPROVE")
    assert approved.status_code == 200, approved.text
    issued = approved.json()
    assert issued["status"] == "ISSUED"
    assert re.fullmatch(rf"BC-DDN-{bnd.today().year}-000001", issued["certificate_number"])
    assert issued["download_url"].startswith("http://127.0.0.1:8000/files/certificates/")
    assert re.fullmatch(r"http://127\.0\.0\.1:8000/verify/[A-Z2-7]{24}", issued["verify_url"])

    again = await bnd.act(registrar, number, "APPROVE")
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_action"

    mine = (await client.get(f"{REQUESTS}/{number}", headers=citizen)).json()
    assert mine["status"] == "ISSUED" and mine["certificate_number"] == issued[
        "certificate_number"]
    pdf = await client.get(bnd.path(mine["download_url"]))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = PdfReader(BytesIO(pdf.content)).pages[0].extract_text()
    for expected in ("Birth Certificate / जन्म प्रमाण पत्र", issued["certificate_number"],
                     record.registration_number, "Ishaan Rawat", "Vivek Rawat",
                     "Dehradun Municipal Corporation", "Anita Joshi", issued["verify_url"]):
        assert expected in text, expected

    events = list(await session.scalars(
        select(OutboxEvent).where(OutboxEvent.aggregate_id == number).order_by(OutboxEvent.id)))
    changes = [e.payload for e in events if e.topic == "certificate.status_changed"]
    assert [(c["action"], c["status"]) for c in changes] == [
        ("APPLY", "PENDINGPAYMENT"), ("PAY", "PENDINGAPPROVAL"), ("APPROVE", "ISSUED")]
    assert {(c["citizen_phone"], c["citizen_locale"]) for c in changes} == {(SUNITA, "hi_IN")}
    [issued_event] = [e.payload for e in events if e.topic == "certificate.issued"]
    assert issued_event["certificate_number"] == issued["certificate_number"]
    assert issued_event["citizen_phone"] == SUNITA and issued_event["citizen_locale"] == "hi_IN"
    assert issued_event["citizen_user_id"] == changes[0]["citizen_user_id"] is not None
    assert bnd.path(issued_event["download_url"]).startswith("/files/certificates/")
    assert issued_event["verify_url"] == issued["verify_url"]

    # The free copy is used: the next request for the record carries a fee (a bill).
    second = await client.post(REQUESTS, headers=citizen, json={
        "registration_number": record.registration_number, "copies": 2, "relation": "parent"})
    assert second.status_code == 201, second.text
    assert second.json()["fee"] == "100.00" and second.json()["status"] == "PENDINGPAYMENT"
    assert second.json()["fee_bill_number"]


async def test_csr_files_for_a_citizen_and_the_registrar_rejects_with_a_reason(
    client, auth, bnd
):
    record = await bnd.recent_registration(
        kind="death", name_en="Govind Singh Rana", name_hi=None, gender="male",
        father_name="Bhagat Singh Rana", mother_name=None, spouse_name="Lata Rana")
    csr = await auth.staff("gro.dehradun")
    missing = await client.post(REQUESTS, headers=csr, json={
        "registration_number": record.registration_number, "relation": "spouse"})
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "applicant_name_required"
    registrar = await auth.staff("registrar.dehradun")
    not_csr = await client.post(REQUESTS, headers=registrar, json={
        "registration_number": record.registration_number, "applicant_name": "Lata Rana",
        "relation": "spouse"})
    assert not_csr.status_code == 403
    unknown = await client.post(REQUESTS, headers=auth.service(RAHUL), json={
        "registration_number": "D-DDN-1999-99999", "relation": "child"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "registration_not_found"
    too_many = await client.post(REQUESTS, headers=auth.service(RAHUL), json={
        "registration_number": record.registration_number, "copies": 6, "relation": "child"})
    assert too_many.status_code == 422

    created = await client.post(REQUESTS, headers=csr, json={
        "registration_number": record.registration_number, "applicant_name": "Rahul Verma",
        "applicant_phone": "98765 00002", "relation": "child"})
    assert created.status_code == 201, created.text
    number = created.json()["request_number"]
    assert created.json()["status"] == "PENDINGAPPROVAL"
    # The citizen whose number the CSR gave owns the request and sees it.
    owned = await client.get(REQUESTS, headers=auth.service(RAHUL))
    assert [r["request_number"] for r in owned.json()] == [number]
    duplicate = await client.post(REQUESTS, headers=auth.service(RAHUL), json={
        "registration_number": record.registration_number, "relation": "child"})
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["details"] == {"request_number": number}

    no_reason = await bnd.act(registrar, number, "REJECT")
    assert no_reason.status_code == 400
    assert no_reason.json()["error"]["code"] == "comment_required"
    rejected = await bnd.act(registrar, number, "REJECT", "Name differs from the register")
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "REJECTED"
    assert rejected.json()["status_comment"] == "Name differs from the register"
    assert rejected.json()["download_url"] is None
    assert (await bnd.act(registrar, number, "APPROVE")).status_code == 409

    # Approving through the generic workflow API cannot skip issuing the certificate.
    other = await client.post(REQUESTS, headers=auth.service(SUNITA), json={
        "registration_number": record.registration_number, "relation": "other"})
    generic = await client.post(
        f"/api/v1/workflow/processes/BND-CERT/{other.json()['request_number']}/transition",
        headers=registrar, json={"action": "APPROVE"})
    assert generic.status_code == 409
    assert generic.json()["error"]["code"] == "use_certificate_actions"


async def test_fee_bill_paid_through_payments_moves_the_request_on(client, auth, app, bnd):
    rahul = auth.service(RAHUL)
    created = await client.post(REQUESTS, headers=rahul,
                                json={"registration_number": "B-DDN-2019-00123", "copies": 2,
                                      "relation": "other"})
    assert created.status_code == 201, created.text
    request = created.json()
    number, bill_number = request["request_number"], request["fee_bill_number"]
    assert request["status"] == "PENDINGPAYMENT" and request["fee"] == "100.00"
    assert request["actions"] == ["CANCEL"]

    bill = (await client.get(f"/api/v1/bills/{bill_number}", headers=rahul)).json()
    assert (bill["service"], bill["consumer_number"], bill["total"], bill["status"]) == (
        "BND_CERT_FEE", number, "100.00", "ACTIVE")
    assert bill["lines"][0]["label_en"] == "Birth certificate, 2 copies × ₹50.00"
    registrar = await auth.staff("registrar.dehradun")
    early = await bnd.act(registrar, number, "APPROVE")
    assert early.status_code == 409 and early.json()["error"]["code"] == "invalid_action"

    intent = await client.post(f"/api/v1/bills/{bill_number}/payment-intents", headers=rahul)
    assert intent.status_code == 201, intent.text
    callback = GatewayCallback(
        gateway="sandbox", event="payment.captured", result="success",
        intent_reference=intent.json()["id"], gateway_payment_id="pay_cert_0001",
        amount=Decimal("100.00"),
    )
    outcome = await settle(app.state.db, callback, ReceiptIssuer.of(app.state))
    assert outcome.outcome is Outcome.PAID
    paid = (await client.get(f"{REQUESTS}/{number}", headers=rahul)).json()
    assert paid["status"] == "PENDINGAPPROVAL" and paid["actions"] == []
    process = (await client.get(f"/api/v1/workflow/processes/BND-CERT/{number}",
                                headers=registrar)).json()
    assert [(h["action"], h["actor_role"], h["comment"]) for h in process["history"]] == [
        ("APPLY", "CITIZEN", None), ("PAY", "SYSTEM", f"fee paid (bill {bill_number})")]
    repeat = await settle(app.state.db, callback, ReceiptIssuer.of(app.state))
    assert repeat.outcome is Outcome.DUPLICATE
    approved = await bnd.act(registrar, number, "APPROVE")
    assert approved.status_code == 200 and approved.json()["status"] == "ISSUED"

    # Cancelling an unpaid request cancels its fee bill: it can no longer be paid.
    death = await client.post(REQUESTS, headers=rahul,
                              json={"registration_number": "D-DDN-2024-00045",
                                    "relation": "child"})
    assert death.json()["fee"] == "50.00", death.text
    cancelled = await bnd.act(rahul, death.json()["request_number"], "CANCEL")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED"
    death_bill = death.json()["fee_bill_number"]
    assert (await client.get(f"/api/v1/bills/{death_bill}", headers=rahul)).json()[
        "status"] == "CANCELLED"
    refused = await client.post(f"/api/v1/bills/{death_bill}/payment-intents", headers=rahul)
    assert refused.status_code == 409
