"""JWT tampering and expiry; payment callbacks with a wrong signature, a wrong amount and
replays (Razorpay webhooks against a local fake of its API)."""

from __future__ import annotations

import base64
import importlib.util
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import func, select

from core_api.auth.tokens import ACCESS, SERVICE, issue_token
from core_api.bills.models import Bill
from core_api.payments.gateways import RazorpayGateway, hmac_hex
from core_api.payments.models import Payment, PaymentCallback, Receipt
from core_api.users.models import User

pytestmark = pytest.mark.reliability

SECRET = "test-secret-key-that-is-long-enough-0123456789"  # the abuse settings' key
SUNITA = "+919876500001"
WEBHOOK = "/webhooks/payments/razorpay"
_spec = importlib.util.spec_from_file_location(
    "razorpay_fake", Path(__file__).parents[1] / "core_api" / "payments" / "razorpay_fake.py")
assert _spec is not None and _spec.loader is not None
rzp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rzp)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_tampered_and_expired_tokens_are_refused(
        client: httpx.AsyncClient, session: Any, reliability: Any) -> None:
    lme_id = await session.scalar(select(User.id).where(
        User.username == "lme.electrical.dehradun"))
    admin_id = await session.scalar(select(User.id).where(User.username == "admin"))
    good = issue_token(SECRET, str(lme_id), ACCESS, timedelta(minutes=5))
    head, _body, signature = good.split(".")
    claims = jwt.decode(good, SECRET, algorithms=["HS256"], issuer="samvad")
    forged = {
        "alg none": jwt.encode({**claims, "sub": str(admin_id)}, None, algorithm="none"),
        "alg none, hand made": f"{_b64({'alg': 'none'})}.{_b64(claims)}.",
        "payload changed to the admin, old signature":
            f"{head}.{_b64({**claims, 'sub': str(admin_id)})}.{signature}",
        "signed with another key": issue_token("x" * 48, str(admin_id), ACCESS,
                                               timedelta(minutes=5)),
        "HS512 with the right key": jwt.encode(claims, SECRET, algorithm="HS512"),
        "expired": issue_token(SECRET, str(lme_id), ACCESS, timedelta(seconds=-5)),
        "expired service token": issue_token(SECRET, "service:bot", SERVICE,
                                             timedelta(seconds=-5)),
        "service type claimed in a staff token": jwt.encode(
            {**claims, "typ": SERVICE}, "x" * 48, algorithm="HS256"),
        "truncated": good[:-10],
    }
    me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {good}"})
    assert me.status_code == 200 and me.json()["user_id"] == lme_id
    answers = {}
    for name, token in forged.items():
        response = await client.get("/api/v1/auth/me",
                                    headers={"Authorization": f"Bearer {token}"})
        answers[name] = (response.status_code, response.json()["error"]["code"])
    assert {n: a[0] for n, a in answers.items()} == {n: 401 for n in forged}, answers
    assert {a[1] for a in answers.values()} <= {"invalid_token", "token_expired"}
    reliability.record(
        area="abuse", case="JWT tampering and expiry",
        sent=f"{len(forged)} tokens: {', '.join(forged)}",
        did="401 invalid_token / token_expired for each; the genuine token still works",
        lost="nothing; no request ran with another identity")


@pytest.fixture
def settings(settings: Any) -> Any:
    return settings.model_copy(update={
        "payment_gateway": "razorpay", "razorpay_key_id": rzp.KEY_ID,
        "razorpay_key_secret": rzp.KEY_SECRET, "razorpay_webhook_secret": rzp.WEBHOOK_SECRET,
        "razorpay_api_base": "https://rzp.local", "upi_vpa": "ddn.nagarnigam@sbi"})


async def _count(session: Any, model: Any, *where: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(*where)))


async def test_payment_callbacks_forged_short_and_replayed(
        app: Any, client: httpx.AsyncClient, auth: Any, session: Any,
        reliability: Any) -> None:
    seen: list[httpx.Request] = []
    app.state.payment_gateways = {"razorpay": RazorpayGateway(
        rzp.KEY_ID, rzp.KEY_SECRET, rzp.WEBHOOK_SECRET, "https://rzp.local",
        transport=rzp.razorpay_fake(seen))}
    citizen = auth.service(SUNITA)
    bills = (await client.get("/api/v1/bills", headers=citizen)).json()
    bill = next(b for b in bills if b["service"] == "WS" and b["status"] == "ACTIVE")
    intent = (await client.post(f"/api/v1/bills/{bill['bill_number']}/payment-intents",
                                headers=citizen)).json()
    paise = int(float(intent["amount"]) * 100)
    payments_before = await _count(session, Payment)

    def signed(event: dict[str, Any], secret: str = rzp.WEBHOOK_SECRET) -> dict[str, Any]:
        body = json.dumps(event).encode()
        return {"content": body, "headers": {"Content-Type": "application/json",
                                             "X-Razorpay-Signature": hmac_hex(secret, body)}}

    event = rzp.paid_event(intent["id"], paise, "pay_Abuse0001")
    forged = {
        "no signature": {"content": json.dumps(event).encode(),
                         "headers": {"Content-Type": "application/json"}},
        "signed with a guessed secret": signed(event, "guess"),
        "amount raised after signing": {**signed(event), "content": json.dumps(
            rzp.paid_event(intent["id"], paise * 10, "pay_Abuse0001")).encode()},
    }
    refused = {name: (await client.post(WEBHOOK, **request)).status_code
               for name, request in forged.items()}
    assert refused == {"no signature": 400, "signed with a guessed secret": 401,
                       "amount raised after signing": 401}
    assert await _count(session, PaymentCallback) == 0
    assert await _count(session, Payment) == payments_before

    short = await client.post(WEBHOOK, **signed(rzp.paid_event(intent["id"], 100, "pay_Short1")))
    assert short.json()["outcome"] == "amount_mismatch"
    replies = [await client.post(WEBHOOK, **signed(event)) for _ in range(4)]
    assert [r.json()["outcome"] for r in replies] == ["paid", "duplicate", "duplicate",
                                                      "duplicate"]
    assert await _count(session, Payment, Payment.gateway_payment_id == "pay_Abuse0001") == 1
    paid = await session.scalar(select(Payment).where(
        Payment.gateway_payment_id == "pay_Abuse0001"))
    assert await _count(session, Receipt, Receipt.payment_id == paid.id) == 1
    assert await _count(session, Payment, Payment.gateway_payment_id == "pay_Short1",
                        Payment.status == "MISMATCH") == 1
    assert await session.scalar(select(Bill.status).where(
        Bill.bill_number == bill["bill_number"])) == "PAID"
    reliability.record(
        area="abuse", case="Payment callbacks: forged, wrong amount, replayed",
        sent="Razorpay webhooks: unsigned, signed with a guessed secret, amount changed "
             "after signing, a signed short payment (₹1), the genuine one 4 times",
        did="400/401 for the forged ones (nothing recorded); the short one recorded as "
            "MISMATCH (no receipt for it); the genuine one paid once, "
            "its 3 replays answered 'duplicate'",
        lost="nothing; 1 payment and 1 receipt for the bill, 0 from forged callbacks")
