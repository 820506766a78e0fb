"""A local stand-in for Razorpay: its payment-links API (through httpx.MockTransport) and
webhook bodies in its wire format. Shared by the payments tests."""

from __future__ import annotations

import base64
import json

import httpx

KEY_ID, KEY_SECRET, WEBHOOK_SECRET = "rzp_test_1DP5mmOlF5G5ag", "thisisasecret", "whsec-9f8e7d"


def razorpay_fake(seen: list[httpx.Request], status: int = 200):
    """A local stand-in for api.razorpay.com that speaks its payment-links wire format."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        expected = "Basic " + base64.b64encode(f"{KEY_ID}:{KEY_SECRET}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return httpx.Response(401, json={"error": {
                "code": "BAD_REQUEST_ERROR", "description": "Authentication failed"}})
        if request.method != "POST" or request.url.path != "/v1/payment_links":
            return httpx.Response(404, json={"error": {"code": "BAD_REQUEST_ERROR",
                                                       "description": "not found"}})
        if status != 200:
            return httpx.Response(status, json={"error": {
                "code": "SERVER_ERROR", "description": "We are facing some trouble"}})
        body = json.loads(request.content)
        return httpx.Response(200, json={
            "accept_partial": body["accept_partial"], "amount": body["amount"],
            "amount_paid": 0, "callback_method": body["callback_method"],
            "callback_url": body["callback_url"], "cancelled_at": 0, "created_at": 1763900000,
            "currency": body["currency"], "customer": body["customer"],
            "description": body["description"], "expire_by": body["expire_by"],
            "expired_at": 0, "first_min_partial_amount": 0, "id": "plink_PqRs7TuVw8XyZa",
            "notes": body["notes"], "notify": body["notify"], "payments": None,
            "reference_id": body["reference_id"], "reminder_enable": False, "reminders": [],
            "short_url": "https://rzp.io/rzp/Hx7q2Lm", "status": "created",
            "updated_at": 1763900000, "upi_link": False, "user_id": "",
        })

    return httpx.MockTransport(handler)


def paid_event(reference: str, paise: int, payment_id: str = "pay_PqRsA1b2C3d4E5") -> dict:
    """A ``payment_link.paid`` webhook body as Razorpay sends it."""
    return {
        "entity": "event", "account_id": "acc_BFQ7uQEaa7j2z7", "event": "payment_link.paid",
        "contains": ["payment_link", "order", "payment"],
        "payload": {
            "payment_link": {"entity": {
                "id": "plink_PqRs7TuVw8XyZa", "amount": paise, "amount_paid": paise,
                "currency": "INR", "reference_id": reference, "status": "paid",
                "short_url": "https://rzp.io/rzp/Hx7q2Lm", "order_id": "order_PqRsOrd1",
            }},
            "order": {"entity": {"id": "order_PqRsOrd1", "amount": paise, "status": "paid"}},
            "payment": {"entity": {
                "id": payment_id, "entity": "payment", "amount": paise, "currency": "INR",
                "status": "captured", "order_id": "order_PqRsOrd1", "method": "upi",
                "vpa": "sunita@okhdfc", "captured": True,
            }},
        },
        "created_at": 1763900100,
    }
