"""A WhatsApp notification Twilio reports undelivered later (63016, signed status
callback) goes once as SMS; its cost and rule are recorded and summed.

The production path: a signed WhatsApp webhook (the admission records the window and the
Twilio number), the notifier routes the event, the send worker sends through a fake
Messages API, the signed status callback finds the job and queues ``<job id>:sms``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest

from channels.queues import channels_of
from channels.render import sms_segments
from channels.twilio import TwilioSender
from samvad.settings import Settings
from samvad.worker import build_notifier, build_send_worker
from tests.channels.twilio.twilio_testkit import ACCOUNT_SID, FakeTwilio, payload, signed_post
from tests.event_examples import example

CITIZEN = "+919876500001"  # the sender of testdata/whatsapp_text.txt
WHATSAPP_NUMBER, SMS_NUMBER = "+14155238886", "+12025550143"  # conftest.py
COMMENT = ("सड़क के किनारे पड़ा कचरा उठा लिया गया है और नाली की सफ़ाई भी कर दी गई है। "
           * 6)[:390]


@pytest.fixture
def settings(twilio_settings: Settings) -> Settings:
    return twilio_settings


def status_callback(sid: str, status: str = "undelivered", code: str = "63016") -> list:
    return [("MessageSid", sid), ("SmsSid", sid), ("MessageStatus", status),
            ("SmsStatus", status), ("ErrorCode", code), ("ChannelPrefix", "whatsapp"),
            ("To", f"whatsapp:{CITIZEN}"), ("From", f"whatsapp:{WHATSAPP_NUMBER}"),
            ("AccountSid", ACCOUNT_SID), ("ApiVersion", "2010-04-01")]


async def test_an_async_63016_sends_the_notification_once_as_sms(
        app: Any, client: httpx.AsyncClient, auth: Any) -> None:
    fake = FakeTwilio(keep_accepting=True)
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake)) as http:
        channels_of(app).senders["twilio"] = TwilioSender.from_settings(app.state.settings,
                                                                        http)
        # The citizen writes on WhatsApp (admitted; their turn is not needed here).
        said = await client.post("/webhooks/twilio",
                                 **signed_post("/webhooks/twilio", payload("whatsapp_text")))
        assert said.status_code == 200

        event = example("complaint.status_changed", complaint_id="PG-UK-DDN-2026-000001",
                        status="RESOLVED", action="RESOLVE", citizen_phone=CITIZEN,
                        citizen_locale="hi_IN", comment=COMMENT, channel=None,
                        assignee_phone=None, gros=[])
        fields = {b"event_id": b"ev-63016", b"topic": b"complaint.status_changed",
                  b"payload": orjson.dumps(event)}
        notifier = build_notifier(app)
        assert await notifier.handle(fields) == 1
        assert await build_send_worker(app).consume_once() == 1
        [whatsapp] = fake.forms
        assert whatsapp["From"] == [f"whatsapp:{WHATSAPP_NUMBER}"]  # the number they used
        assert "ContentSid" not in whatsapp  # inside the window: free-form
        sid = f"SM{1:032x}"

        path = "/webhooks/twilio/status"
        for _ in range(2):  # Twilio calls back; then the same callback again
            answer = await client.post(path, **signed_post(path, status_callback(sid)))
            assert answer.status_code == 200, answer.text
            await build_send_worker(app).consume_once()
        assert len(fake.forms) == 2
        sms = fake.forms[1]
        assert (sms["From"], sms["To"]) == ([SMS_NUMBER], [CITIZEN])
        body = sms["Body"][0]
        segments = sms_segments(body).segments
        assert segments <= 3 and "PG-UK-DDN-2026-000001" in body and "…" in body

    job_id = f"n:ev-63016:{CITIZEN}"
    first = (await client.get(f"/api/v1/channel-messages/{job_id}",
                              headers=auth.service())).json()
    assert (first["status"], first["error_code"], first["rule"]) == (
        "failed", "63016", "last_active")
    assert Decimal(first["cost"]) == 0  # not delivered: costs nothing
    fallback = (await client.get(f"/api/v1/channel-messages/{job_id}:sms",
                                 headers=auth.service())).json()
    assert (fallback["channel"], fallback["rule"], fallback["segments"]) == (
        "sms", "sms_fallback", segments)
    assert Decimal(fallback["cost"]) == Decimal("0.25") * segments
    costs = (await client.get("/api/v1/channel-messages/costs",
                              params={"job_prefix": "n:ev-63016:"},
                              headers=auth.service())).json()
    assert Decimal(costs["total"]) == Decimal("0.25") * segments
    assert [(line["channel"], line["messages"]) for line in costs["by_channel"]] == [
        ("sms", 1), ("whatsapp", 1)]


async def test_a_template_twilio_cannot_take_goes_as_sms_at_once(
        app: Any, client: httpx.AsyncClient, auth: Any) -> None:
    """Outside the window the bundled template name is no Twilio Content SID: the
    notification goes as SMS instead of failing (the city has not set its SIDs)."""
    fake = FakeTwilio(keep_accepting=True)
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake)) as http:
        channels_of(app).senders["twilio"] = TwilioSender.from_settings(app.state.settings,
                                                                        http)
        event = example("payment.completed", payer_phone=CITIZEN, payer_locale="en_IN",
                        amount="1236.50", bill_number="BILL-DDN-2026-000002",
                        receipt_number="RCPT-DDN-2026-000002", receipt_link=None,
                        channel="whatsapp")
        fields = {b"event_id": b"ev-tpl", b"topic": b"payment.completed",
                  b"payload": orjson.dumps(event)}
        assert await build_notifier(app).handle(fields) == 1
        await build_send_worker(app).consume_once()
        await build_send_worker(app).consume_once()
    [sms] = fake.forms
    assert sms["From"] == [SMS_NUMBER] and "RCPT-DDN-2026-000002" in sms["Body"][0]
    record = (await client.get(f"/api/v1/channel-messages/n:ev-tpl:{CITIZEN}",
                               headers=auth.service())).json()
    assert (record["status"], record["error_code"], record["rule"]) == (
        "failed", "bad_template", "case_channel")
