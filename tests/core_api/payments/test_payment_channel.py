"""Issue 17: a payment intent remembers the chat channel the link was asked for on
(``channel``: whatsapp or sms, anything else 422), and ``payment.completed`` says it, so the
receipt goes back where the payer asked for it (not to another conversation they have)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from sqlalchemy import select

from core_api.events.contract import validate
from core_api.events.models import OutboxEvent
from core_api.payments.models import PaymentIntent

SUNITA = "+919876500001"
RAHUL = "+919876500002"


async def _bill(client, auth, phone: str, service: str) -> dict:
    bills = (await client.get("/api/v1/bills", headers=auth.service(phone))).json()
    return next(b for b in bills if b["service"] == service and b["status"] == "ACTIVE")


async def _channel_of(session, reference: str) -> str | None:
    return await session.scalar(
        select(PaymentIntent.channel).where(PaymentIntent.reference == reference)
        .execution_options(populate_existing=True))


async def _pay_on_sandbox_page(client, payment_url: str) -> None:
    """Press "Pay (success)" on the sandbox gateway page, as the payer would."""
    page_path = urlsplit(payment_url).path
    html = (await client.get(page_path)).text
    form = {name: re.search(rf'name="{name}" value="([^"]+)"', html).group(1)
            for name in ("exp", "sig")}
    paid = await client.post(f"{page_path}/sandbox", data={**form, "outcome": "success"})
    assert paid.status_code == 303, paid.text


async def test_the_receipt_event_names_the_channel_the_link_was_asked_on(client, auth,
                                                                         session):
    bill = await _bill(client, auth, SUNITA, "PT")
    url = f"/api/v1/bills/{bill['bill_number']}/payment-intents"
    sunita = auth.service(SUNITA)
    for bad in ("e-mail", "SMS", "", ["sms"]):
        refused = await client.post(url, headers=sunita, json={"channel": bad})
        assert refused.status_code == 422, bad
        assert refused.json()["error"]["code"] == "validation_error"
    assert await session.scalar(select(PaymentIntent.id)) is None  # nothing was opened
    unnamed = await client.post(url, headers=sunita, json={"channel": None})  # "not said"
    assert unnamed.status_code == 201, unnamed.text
    reference = unnamed.json()["id"]
    assert await _channel_of(session, reference) is None

    # Asked on WhatsApp, then again over SMS: one intent, and the receipt follows the payer.
    on_whatsapp = await client.post(url, headers=sunita, json={"channel": "whatsapp"})
    assert on_whatsapp.status_code == 200 and on_whatsapp.json()["id"] == reference
    assert await _channel_of(session, reference) == "whatsapp"
    # A channel kind the bot registers later needs no change here: any well-formed name.
    on_telegram = await client.post(url, headers=sunita, json={"channel": "telegram"})
    assert on_telegram.status_code == 200 and await _channel_of(session, reference) == "telegram"
    on_sms = await client.post(url, headers=sunita, json={"channel": "sms"})
    assert on_sms.status_code == 200 and on_sms.json()["id"] == reference
    assert await _channel_of(session, reference) == "sms"
    unsaid = await client.post(url, headers=sunita)  # no channel said: the last one stays
    assert unsaid.status_code == 200 and await _channel_of(session, reference) == "sms"

    await _pay_on_sandbox_page(client, on_sms.json()["payment_url"])
    event = await session.scalar(select(OutboxEvent).where(
        OutboxEvent.aggregate_id == bill["bill_number"],
        OutboxEvent.topic == "payment.completed"))
    validate("payment.completed", event.payload)
    assert (event.payload["channel"], event.payload["payer_phone"]) == ("sms", SUNITA)


async def test_a_new_intent_without_a_channel_publishes_none(client, auth, session):
    bill = await _bill(client, auth, SUNITA, "PT")
    made = await client.post(f"/api/v1/bills/{bill['bill_number']}/payment-intents",
                             headers=auth.service(RAHUL),
                             json={"consumer_number": "PT-DDN-20451"})  # paying for Sunita
    assert made.status_code == 201, made.text
    await _pay_on_sandbox_page(client, made.json()["payment_url"])
    event = await session.scalar(select(OutboxEvent).where(
        OutboxEvent.aggregate_id == bill["bill_number"],
        OutboxEvent.topic == "payment.completed"))
    validate("payment.completed", event.payload)
    assert event.payload["channel"] is None and event.payload["payer_phone"] == RAHUL
