"""Issue 17: a certificate request the registrar approves (or rejects) reaches the citizen.

The request goes through the API, the outbox relay publishes its events, and the notifier
(bot.notifier) delivers: to the request's owner, in their language, on the channel they
last used (WhatsApp when they have a WhatsApp conversation, else SMS), once each; the
city's registrar hears of the request waiting for approval.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.notifier import Notification, Notifier
from channels.queues import simulator_delivery
from core_api.events.relay import relay_once

REQUESTS = "/api/v1/certificate-requests"
SUNITA, RAHUL = "+919876500001", "+919876500002"  # hi_IN and en_IN in the demo data
REGISTRAR = "+919876510004"  # registrar.dehradun, en_IN


class RecordingSink:
    def __init__(self) -> None:
        self.delivered: list[tuple[str, Notification]] = []

    async def deliver(self, channel: str, notification: Notification) -> None:
        self.delivered.append((channel, notification))


async def _deliver_all(app: Any, notifier: Notifier) -> int:
    """Relay every committed event and let the notifier consume them all."""
    while await relay_once(app.state.db, app.state.redis):
        pass
    delivered = 0
    while sent := await notifier.consume_once(count=500):
        delivered += sent
    return delivered


@pytest.mark.parametrize("channel", ["whatsapp", "sms"])
async def test_an_approved_certificate_reaches_the_citizen_with_the_pdf(
    channel: str, client: Any, app: Any, auth: Any, bnd: Any
) -> None:
    sink = RecordingSink()
    notifier = Notifier(app.state.redis, app.state.conversations.store, sink,
                        router=simulator_delivery(app.state.redis, app.state.conversations.store))
    if channel == "whatsapp":  # Sunita talks to Samvad on WhatsApp
        said = await client.post("/simulator/messages",
                                 json={"from": SUNITA, "channel": channel, "text": "नमस्ते"})
        assert said.status_code == 200, said.text
    await _deliver_all(app, notifier)  # the demo data's own events
    sink.delivered.clear()

    record = await bnd.recent_registration()
    created = await client.post(REQUESTS, headers=auth.service(SUNITA), json={
        "registration_number": record.registration_number, "relation": "parent"})
    assert created.status_code == 201, created.text
    number = created.json()["request_number"]
    approved = await bnd.act(await auth.staff("registrar.dehradun"), number, "APPROVE")
    assert approved.status_code == 200 and approved.json()["status"] == "ISSUED"

    assert await _deliver_all(app, notifier) == 3
    assert await _deliver_all(app, notifier) == 0  # once each
    [(_, told)] = [(ch, n) for ch, n in sink.delivered if n.phone == REGISTRAR]
    assert told.locale == "en_IN" and number in told.message.text  # to approve
    [(ch1, waiting), (ch2, issued)] = [(ch, n) for ch, n in sink.delivered
                                       if n.phone == SUNITA]
    assert (ch1, ch2) == (channel, channel)
    assert (waiting.phone, waiting.locale, waiting.kind) == (SUNITA, "hi_IN",
                                                            "certificate_update")
    assert waiting.message.text == (
        f"आवेदन {number}: भुगतान मिल गया, अब रजिस्ट्रार की मंज़ूरी का इंतज़ार है।")
    assert (issued.phone, issued.locale, issued.kind) == (SUNITA, "hi_IN", "certificate_issued")
    assert issued.message.text == f"आवेदन {number} का आपका प्रमाण पत्र तैयार है। इसकी PDF:"
    [pdf] = issued.message.media
    assert pdf.url == approved.json()["download_url"]
    assert pdf.content_type == "application/pdf"
    fetched = await client.get(bnd.path(pdf.url))
    assert fetched.status_code == 200 and fetched.content.startswith(b"%PDF")


async def test_a_rejected_request_tells_the_citizen_why(
    client: Any, app: Any, auth: Any, bnd: Any
) -> None:
    sink = RecordingSink()
    notifier = Notifier(app.state.redis, app.state.conversations.store, sink,
                        router=simulator_delivery(app.state.redis, app.state.conversations.store))
    await _deliver_all(app, notifier)
    sink.delivered.clear()

    record = await bnd.recent_registration()
    created = await client.post(REQUESTS, headers=await auth.staff("gro.dehradun"), json={
        "registration_number": record.registration_number, "applicant_name": "Rahul Verma",
        "applicant_phone": "98765 00002", "relation": "child"})  # filed by a CSR
    assert created.status_code == 201, created.text
    number = created.json()["request_number"]
    rejected = await bnd.act(await auth.staff("registrar.dehradun"), number, "REJECT",
                             "Name differs from the register")
    assert rejected.status_code == 200, rejected.text

    assert await _deliver_all(app, notifier) == 3
    assert [n.phone for _, n in sink.delivered].count(REGISTRAR) == 1  # to approve
    [(_, waiting), (channel, note)] = [(ch, n) for ch, n in sink.delivered if n.phone == RAHUL]
    assert waiting.kind == "certificate_update" and waiting.phone == RAHUL
    assert (channel, note.phone, note.locale, note.kind) == ("sms", RAHUL, "en_IN",
                                                             "certificate_update")
    assert note.message.text == f"Request {number} was rejected: Name differs from the register"
