"""Twilio through the whole app: webhook -> inbound queue -> turn -> send -> status record."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from channels.queues import channels_of
from channels.twilio import TwilioSender
from samvad.settings import Settings
from samvad.worker import build_inbound_worker, build_send_worker
from tests.channels.twilio.twilio_testkit import (
    ACCOUNT_SID,
    PUBLIC_URL,
    FakeTwilio,
    payload,
    signed_post,
)

CITIZEN = "+919876500001"
MESSAGE_SID = "SMa1b2c3d4e5f60718293a4b5c6d7e8f90"


@pytest.fixture
def settings(twilio_settings: Settings) -> Settings:
    return twilio_settings


async def test_a_whatsapp_message_is_answered_through_twilio_and_its_delivery_recorded(
    client: httpx.AsyncClient, app: Any, auth: Any
) -> None:
    channels = channels_of(app)
    request = signed_post("/webhooks/twilio", payload("whatsapp_text"))
    answered = await client.post("/webhooks/twilio", **request)
    assert answered.status_code == 200, answered.text
    assert "X-Samvad-Ignored" not in answered.headers
    waiting = await channels.inbound.waiting("whatsapp", CITIZEN)
    assert [(m.channel, m.sender, m.text, m.message_id, m.profile_name, m.to)
            for m in waiting] == [
        ("whatsapp", CITIZEN, "नमस्ते", MESSAGE_SID, "सुनीता", "+14155238886")]

    replayed = await client.post("/webhooks/twilio", **request)
    assert replayed.headers["X-Samvad-Ignored"] == "duplicate MessageSid"
    assert len(await channels.inbound.waiting("whatsapp", CITIZEN)) == 1

    # The turn runs after the answer, in a worker; its replies go out through Twilio.
    assert await build_inbound_worker(app).consume_once() == 1
    fake = FakeTwilio(keep_accepting=True)
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake)) as http:
        sender = TwilioSender.from_settings(app.state.settings, http)
        assert sender is not None
        channels.senders["twilio"] = sender
        assert await build_send_worker(app).consume_once() >= 1
    assert fake.forms, "no reply was sent"
    first = fake.forms[0]
    assert first["To"] == [f"whatsapp:{CITIZEN}"]
    assert first["From"] == ["whatsapp:+14155238886"]  # the number the citizen wrote to
    assert first["StatusCallback"] == [f"{PUBLIC_URL}/webhooks/twilio/status"]
    assert first["Body"][0].strip()

    job_id = f"{MESSAGE_SID}:0"
    record = await client.get(f"/api/v1/channel-messages/{job_id}", headers=auth.service())
    assert record.status_code == 200, record.text
    sid = record.json()["provider_message_id"]
    assert (sid, record.json()["status"]) == (f"SM{1:032x}", "queued")

    status = [("MessageSid", sid), ("MessageStatus", "delivered"), ("SmsStatus", "delivered"),
              ("To", f"whatsapp:{CITIZEN}"), ("From", "whatsapp:+14155238886"),
              ("AccountSid", ACCOUNT_SID), ("ApiVersion", "2010-04-01")]
    path = "/webhooks/twilio/status"
    stored = await client.post(path, **signed_post(path, status))
    assert stored.json() == {"status": "recorded"}
    record = await client.get(f"/api/v1/channel-messages/{job_id}", headers=auth.service())
    assert record.json()["status"] == "delivered"
