"""A Meta WhatsApp notification that the status webhook reports failed with 131047 (the
window closed) goes once as SMS (Twilio), whatever the webhook is delivered again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from channels.meta_whatsapp import MetaSender, signature_header
from channels.queues import channels_of
from channels.render import sms_segments
from channels.twilio import TwilioSender
from samvad.settings import Settings
from samvad.worker import build_notifier, build_send_worker
from tests.channels.twilio.twilio_testkit import ACCOUNT_SID, API_BASE, AUTH_TOKEN, FakeTwilio
from tests.event_examples import example

TESTDATA = Path(__file__).resolve().parents[3] / "channels" / "meta_whatsapp" / "testdata"
SECRET = "fallback-app-secret"
NUMBER_ID = "106540352242922"
GRAPH = "https://graph.fake"
CITIZEN = "+919876500001"  # the sender of testdata/text.json
SMS_NUMBER = "+12025550143"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Meta for WhatsApp, Twilio for SMS (both local fakes)."""
    return settings.model_copy(update={
        "whatsapp_app_secret": SECRET, "whatsapp_verify_token": "v",
        "whatsapp_phone_number_id": NUMBER_ID, "whatsapp_access_token": "EAAG-x",
        "whatsapp_api_base": GRAPH, "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN, "twilio_api_base": API_BASE,
        "twilio_sms_from": SMS_NUMBER})


async def signed_post(client: httpx.AsyncClient, body: Any) -> httpx.Response:
    raw = json.dumps(body, ensure_ascii=False).encode()
    return await client.post("/webhooks/whatsapp", content=raw, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": signature_header(SECRET, raw)})


async def test_a_131047_status_sends_the_notification_once_as_sms(
        app: Any, client: httpx.AsyncClient, auth: Any) -> None:
    graph_calls: list[dict[str, Any]] = []

    def graph(request: httpx.Request) -> httpx.Response:
        graph_calls.append(json.loads(request.content))
        return httpx.Response(200, json={"messaging_product": "whatsapp", "messages": [
            {"id": f"wamid.note{len(graph_calls)}"}]})

    twilio = FakeTwilio(keep_accepting=True)
    async with httpx.AsyncClient(transport=httpx.MockTransport(graph)) as meta_http, \
            httpx.AsyncClient(transport=httpx.MockTransport(twilio)) as twilio_http:
        senders = channels_of(app).senders
        senders["meta"] = MetaSender(meta_http, api_base=GRAPH, access_token="EAAG-x",
                                     phone_number_id=NUMBER_ID)
        senders["twilio"] = TwilioSender.from_settings(app.state.settings, twilio_http)
        said = await signed_post(client, json.loads((TESTDATA / "text.json").read_text()))
        assert said.json()["messages"] == 1  # admitted: the window is open

        event = example("certificate.issued", citizen_phone=CITIZEN, citizen_locale="pa_IN",
                        request_number="BND-DDN-2026-000123", channel="whatsapp",
                        download_url="https://samvad.example.in/files/c.pdf?exp=1&sig=" + "x" * 90)
        fields = {b"event_id": b"ev-131047", b"topic": b"certificate.issued",
                  b"payload": orjson.dumps(event)}
        assert await build_notifier(app).handle(fields) == 1
        assert await build_send_worker(app).consume_once() == 1
        [document] = graph_calls
        assert document["type"] == "document"  # the PDF itself on WhatsApp

        status = json.loads((TESTDATA / "status_failed.json").read_text())
        [update] = status["entry"][0]["changes"][0]["value"]["statuses"]
        update["id"] = "wamid.note1"
        update["errors"][0].update(code=131047, title="Re-engagement message")
        for _ in range(2):  # Meta delivers the webhook; then again
            answer = await signed_post(client, status)
            assert answer.status_code == 200 and answer.json()["statuses"] == 1
            await build_send_worker(app).consume_once()

    assert len(graph_calls) == 1
    [sms] = twilio.forms
    body = sms["Body"][0]
    assert (sms["From"], sms["To"]) == ([SMS_NUMBER], [CITIZEN])
    assert "BND-DDN-2026-000123" in body and sms_segments(body).segments <= 3
    record = (await client.get(f"/api/v1/channel-messages/n:ev-131047:{CITIZEN}:sms",
                               headers=auth.service())).json()
    assert (record["rule"], record["provider"]) == ("sms_fallback", "twilio")
