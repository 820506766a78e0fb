"""Metrics and logs of the Twilio path: webhook and send counters by provider error code, and
the logs of a whole complaint scenario carrying no phone number, name or secret."""

from __future__ import annotations

import io
import json
import logging
import re
from typing import Any

import httpx
import pytest

from channels.queues import channels_of
from channels.twilio import TwilioSender
from samvad.logs import log_handler
from samvad.settings import Settings
from samvad.worker import build_inbound_worker, build_send_worker
from tests.channels.twilio.test_twilio_complaint_lifecycle import GRO, LME, SUNITA, Phones
from tests.channels.twilio.twilio_testkit import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FakeTwilio,
    refused,
    signed_post,
)
from tests.samvad.test_metrics import scrape, value

pytestmark = pytest.mark.timeout(180)

SMS_NUMBER = "+12025550143"


@pytest.fixture
def settings(twilio_settings: Settings) -> Settings:
    return twilio_settings


def sms(sender: str, body: str, sid: str) -> list[tuple[str, str]]:
    return [("MessageSid", sid), ("SmsSid", sid), ("AccountSid", ACCOUNT_SID),
            ("From", sender), ("To", SMS_NUMBER), ("Body", body), ("NumMedia", "0"),
            ("SmsStatus", "received"), ("ApiVersion", "2010-04-01")]


async def test_webhooks_turns_and_sends_by_provider_error_code(client: Any, app: Any) -> None:
    # The first reply is refused as to an unsubscribed number (21610), later ones accepted.
    fake = FakeTwilio(refused("error_21610"), keep_accepting=True)
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake)) as http:
        sender = TwilioSender.from_settings(app.state.settings, http)
        assert sender is not None
        channels_of(app).senders["twilio"] = sender
        before = await scrape(client)

        pairs = sms("+919876500077", "hello", "SM" + "a1" * 16)
        forged = await client.post("/webhooks/twilio",
                                   **signed_post("/webhooks/twilio", pairs, token="f" * 32))
        assert forged.status_code == 403
        accepted = await client.post("/webhooks/twilio", **signed_post("/webhooks/twilio", pairs))
        assert accepted.status_code == 200
        queued = await scrape(client)
        assert value(queued, "samvad_queue_depth", queue="inbound", state="waiting") == 1

        assert await build_inbound_worker(app).consume_once() == 1
        replies = await build_send_worker(app).consume_once()
        assert replies >= 1
        after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("samvad_webhook_requests_total", provider="twilio", endpoint="inbound",
                 outcome="forbidden") == 1
    assert delta("samvad_webhook_requests_total", provider="twilio", endpoint="inbound",
                 outcome="enqueued") == 1
    assert delta("samvad_inbound_messages_total", provider="twilio", outcome="handled") == 1
    assert delta("samvad_chat_turns_total", channel="sms", flow="onboarding",
                 outcome="ok") + delta("samvad_chat_turns_total", channel="sms",
                                       flow="main_menu", outcome="ok") == 1
    # The refused reply failed with Twilio's code (opted out: not retried); the rest went.
    assert delta("samvad_outbound_sends_total", provider="twilio", channel="sms",
                 outcome="failed", error_code="21610") == 1
    assert delta("samvad_outbound_sends_total", provider="twilio", channel="sms",
                 outcome="sent", error_code="none") == len(fake.forms) - 1
    assert value(after, "samvad_queue_depth", queue="inbound", state="waiting") == 0


# What must never appear in a log line: every participant's number in any spelling, the
# names the demo data gives them, and the credentials of the run.
PEOPLE = {SUNITA: "सुनीता देवी", GRO: "Meena Rawat", LME: "Ramesh Negi"}


def forbidden_strings(service_token: str, settings: Settings) -> list[str]:
    found = []
    for phone, name in PEOPLE.items():
        local = phone.removeprefix("+91")
        found += [phone, phone[1:], local, f"{local[:5]} {local[5:]}", f"%2B{phone[1:]}",
                  name, *name.split()]
    return [*found, AUTH_TOKEN, service_token, settings.secret_key]


@pytest.mark.reliability
async def test_logs_of_a_whole_complaint_mask_people_and_secrets(
        client: Any, app: Any, auth: Any, reliability: Any) -> None:
    buffer = io.StringIO()
    handler = log_handler(buffer, json=True)
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    fake = FakeTwilio(keep_accepting=True)
    try:
        async with httpx.AsyncClient(transport=httpx.MockTransport(fake)) as http:
            sender = TwilioSender.from_settings(app.state.settings, http)
            assert sender is not None
            channels_of(app).senders["twilio"] = sender
            phones = Phones(client, app, fake)
            await phones.text(SUNITA, "नमस्ते")
            await phones.text(SUNITA, "स्ट्रीट लाइट खराब है")
            await phones.text(SUNITA, "हाँ")  # yes, that is the problem
            await phones.text(SUNITA, "देहरादून")
            await phones.text(SUNITA, "राजपुर")
            await phones.text(SUNITA, "1")
            await phones.text(SUNITA, f"खंभा 14 की बत्ती बंद है, मेरा नंबर {SUNITA[3:]}")
            filed = await phones.text(SUNITA, "हाँ")
            number = re.search(r"(PG-UK-DDN-\d{4}-\d{6})", filed)
            assert number, filed
            for text in ("नमस्ते", "मेरे काम", "1", "सौंपें", "Ramesh Negi"):
                await phones.text(GRO, text)
            told = await phones.notifications()
            assert number.group(1) in told[LME][0]
            for text in ("नमस्ते", "मेरे काम", "1", "हल हो गई", "बल्ब बदल दिया गया"):
                await phones.text(LME, text)
            told = await phones.notifications()
            assert number.group(1) in told[SUNITA][0]
            # Staff look it up over the API with a bearer token.
            staff = await auth.staff("gro.dehradun")
            looked = await client.get(f"/api/v1/complaints/{number.group(1)}", headers=staff)
            assert looked.status_code == 200
            # Something that fails loudly: a wrong password, logged as a refusal.
            assert (await client.post("/api/v1/auth/token", data={
                "username": "gro.dehradun", "password": "not-the-password"})).status_code == 401
    finally:
        root.removeHandler(handler)
        root.setLevel(level)

    lines = [line for line in buffer.getvalue().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert len(records) >= 40, len(records)
    text = buffer.getvalue()
    leaked = [s for s in forbidden_strings(app.state.service_token, app.state.settings)
              if s in text]
    assert leaked == [], leaked
    # The numbers were logged, masked: the scan is not passing because nothing was logged.
    assert "+91******0001" in text and "+91******0002" in text
    turns = [r for r in records if r["event"] == "turn"]
    assert len(turns) == 18  # every text was one turn
    assert all(re.fullmatch(r"[0-9a-f]{16}", r["turn_id"]) for r in turns)
    assert len({r["turn_id"] for r in turns}) == len(turns)
    webhooks = [r for r in records if r["event"] == "twilio_inbound_enqueued"]
    assert len(webhooks) == len(turns)
    assert all(re.fullmatch(r"[0-9a-f]{32}", r["request_id"]) for r in webhooks)
    sends = [r for r in records if r["event"] == "message_sent"]
    assert sends and all(r["to"].startswith("+91******") for r in sends)

    reliability.record(
        area="privacy", case="Logs of a whole complaint (file, assign, resolve) over Twilio",
        sent=f"{len(turns)} signed SMS webhooks from a citizen, a GRO and an LME (one with the "
             "citizen's number in the text), notifications, a staff API call, a wrong password",
        did=f"{len(records)} JSON log lines with request and turn ids; numbers masked "
            "(+91******0001), names, tokens, signatures and the secret key absent",
        lost=f"nothing leaked: 0 of {len(forbidden_strings('', app.state.settings))} "
             "numbers, names and secrets found in the logs")
