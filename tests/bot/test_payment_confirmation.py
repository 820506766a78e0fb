"""Pay a bill in the chat, pay on the sandbox page, get the receipt in the chat (SPEC §4).

The citizen picks a bill through ``POST /simulator/messages`` and gets the payment link;
the test pays on the hosted sandbox page like a citizen would; the outbox relay and the
notifier then deliver the Hindi confirmation with the receipt PDF, which
``GET /simulator/messages`` shows: a document on WhatsApp, the link in the SMS text.
Then the same conversation picks one of two bills found by a consumer number (masked)
and runs into the lookup limit.
"""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from bot.notifier import Notifier, SimulatorInbox
from channels.queues import simulator_delivery
from core_api.bills.service import create_bill
from core_api.events.relay import relay_once

SUNITA = "+919876500001"  # Hindi; unpaid water (₹1,236.50) and property-tax bills


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _seen(turn: dict[str, Any]) -> str:
    return "\n".join(r["rendered"] if isinstance(r["rendered"], str)
                     else json.dumps(r["rendered"], ensure_ascii=False)
                     for r in turn["replies"])


@pytest.mark.parametrize("channel", ["whatsapp", "sms"])
async def test_receipt_arrives_in_the_chat_after_paying_on_the_link(
    channel: str, client: httpx.AsyncClient, app: Any, auth: Any, session: Any
) -> None:
    async def say(text: str) -> dict[str, Any]:
        response = await client.post("/simulator/messages",
                                     json={"from": SUNITA, "channel": channel, "text": text})
        assert response.status_code == 200, response.text
        return response.json()

    await say("नमस्ते")
    bills = await say("3")
    assert bills["step"] == "pick" and "पानी ₹1,236.50" in _seen(bills)
    summary = await say("1")
    assert "WS-DDN-10219" in _seen(summary) and summary["step"] == "confirm"
    paying = await say("1")
    seen = _seen(paying)
    assert paying["flow"] == "main_menu"
    assert "रसीद इसी चैट में आएगी" in seen
    media = [m for r in paying["replies"] for m in r["media"]]
    if channel == "whatsapp":  # the pay page, the UPI link, and its QR as an image
        assert "upi://pay?" in seen
        payment_url = re.search(r"https?://[^\s\"]+/pay/[\w-]+", seen).group(0)
        assert [m["content_type"] for m in media] == ["image/png"]
        qr = await client.get(_path(media[0]["url"]))
        assert qr.status_code == 200 and qr.headers["content-type"] == "image/png"
    else:  # a short link to the pay page, which offers the UPI app: no upi:// in an SMS
        assert media == [] and ".png" not in seen and "upi://" not in seen
        short = re.search(r"https?://[^\s\"]+/r/\w+", seen).group(0)
        opened = await client.get(_path(short))
        assert opened.status_code == 303
        location = opened.headers["location"]  # /pay/<token>?choose=1
        assert "upi://pay?" in (await client.get(location)).text
        payment_url = location.partition("?")[0]

    # The citizen opens the link and pays on the sandbox page.
    page = await client.get(_path(payment_url))
    assert page.status_code == 200 and "₹1,236.50" in page.text
    form = {name: re.search(rf'name="{name}" value="([^"]+)"', page.text).group(1)
            for name in ("exp", "sig")}
    paid = await client.post(f"{_path(payment_url)}/sandbox",
                             data={**form, "outcome": "success"})
    assert paid.status_code == 303

    # Nothing reaches the chat before the event is relayed and consumed.
    inbox = await client.get("/simulator/messages", params={"from": SUNITA, "channel": channel})
    assert inbox.json()["replies"] == []
    assert await relay_once(app.state.db, app.state.redis) >= 1
    notifier = Notifier(app.state.redis, app.state.conversations.store,
                        SimulatorInbox(app.state.redis),
                        router=simulator_delivery(app.state.redis, app.state.conversations.store))
    assert await notifier.consume_once() == 1
    assert await notifier.consume_once() == 0  # delivered once

    inbox = await client.get("/simulator/messages", params={"from": SUNITA, "channel": channel})
    [message] = inbox.json()["replies"]
    assert re.search(r"बिल BILL-DDN-\d{4}-\d{6} के लिए ₹1,236.50 का भुगतान मिल गया है। "
                     r"आपकी रसीद RCPT-DDN-\d{4}-\d{6}:", message["text"])
    [receipt] = message["media"]
    assert receipt["content_type"] == "application/pdf"
    assert re.fullmatch(r"RCPT-DDN-\d{4}-\d{6}\.pdf", receipt["filename"])
    if channel == "whatsapp":  # one document message captioned with the text
        [document] = message["rendered"]
        assert document["type"] == "document"
        assert document["document"]["link"] == receipt["url"]
        assert document["document"]["caption"] == message["text"]
    else:  # SMS: the text and the link
        assert message["rendered"].startswith(message["text"])
        assert message["rendered"].rstrip().endswith(receipt["url"])
    pdf = await client.get(_path(receipt["url"]))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    # The paid water bill is no longer offered; only the property tax is left.
    again = await say("3")
    assert "पानी" not in _seen(again) and "संपत्ति कर ₹4,850.00" in _seen(again)

    # Two unpaid bills under one consumer number: the citizen picks one; it comes masked.
    await create_bill(session, tenant_code="uk.dehradun", service="WS",
                      consumer_number="WS-DDN-10234", owner_user_id=None,
                      owner_name="Mohan Lal Sharma", owner_phone=None,
                      period_from=date(2026, 10, 1), period_to=date(2026, 12, 31),
                      due_date=date(2027, 1, 31),
                      lines=[("WS_WATER", "Water charges", "जल शुल्क", Decimal("700.00"))])
    await session.commit()
    assert (await say("2"))["step"] == "ask_number"
    found = await say("ws-ddn-10234")
    assert found["step"] == "pick_found"
    assert re.search(r"पानी ₹700.00.*पानी ₹1,018.00", _seen(found), re.DOTALL)
    other = await say("2")
    assert other["step"] == "confirm"
    assert "M**** L**** S****" in _seen(other) and "₹1,018.00" in _seen(other)
    assert "Mohan" not in _seen(other)
    assert (await say("3"))["step"] == "not_yet"  # "no": another bill, or cancel
    assert (await say("2"))["flow"] == "main_menu"  # cancel

    # Too many consumer-number lookups from this number (20 an hour): a polite message.
    for n in range(19):
        lookup = await client.get("/api/v1/bills/search", headers=auth.service(SUNITA),
                                  params={"consumer_number": f"WS-DDN-{30000 + n}"})
        assert lookup.status_code == 200
    await say("3")
    assert (await say("2"))["step"] == "ask_number"
    limited = await say("WS-DDN-10234")
    assert "बहुत सी संख्याएँ खोजी गईं" in _seen(limited) and limited["flow"] == "main_menu"
