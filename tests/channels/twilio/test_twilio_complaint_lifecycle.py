"""The whole complaint scenario over signed Twilio SMS webhooks, in Hindi (issue: channels).

Every message goes the production way: a signed `POST /webhooks/twilio`, the inbound
worker runs the turn, the send worker delivers the replies to a fake Twilio Messages API;
notifications go outbox -> relay -> notifier -> outbound queue -> Twilio. The citizen
files a streetlight complaint, the GRO assigns it from chat, the LME resolves it from chat,
the citizen is told and rates it.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import httpx
import pytest

from channels.queues import channels_of
from channels.twilio import TwilioSender
from core_api.events.relay import relay_once
from samvad.settings import Settings
from samvad.worker import build_inbound_worker, build_notifier, build_send_worker
from tests.channels.twilio.twilio_testkit import (
    ACCOUNT_SID,
    FakeTwilio,
    signed_post,
)

SMS_NUMBER = "+12025550143"  # TWILIO_SMS_FROM in conftest.py
SUNITA, GRO, LME = "+919876500001", "+919876510001", "+919876510002"
_sids = itertools.count(1)


@pytest.fixture
def settings(twilio_settings: Settings) -> Settings:
    return twilio_settings


class Phones:
    """People texting Samvad's Twilio number; what Twilio was asked to send them."""

    def __init__(self, client: httpx.AsyncClient, app: Any, fake: FakeTwilio) -> None:
        self.client, self.app, self.fake = client, app, fake
        self.read = 0
        self.log: list[str] = []

    async def _deliver(self) -> None:
        await build_send_worker(self.app).consume_once()

    def _new_messages(self) -> dict[str, list[str]]:
        fresh = self.fake.forms[self.read:]
        self.read = len(self.fake.forms)
        out: dict[str, list[str]] = {}
        for form in fresh:
            assert form["From"] == [SMS_NUMBER]
            out.setdefault(form["To"][0], []).append(form["Body"][0])
        return out

    async def text(self, phone: str, body: str) -> str:
        sid = f"SM{next(_sids):032x}"
        pairs = [("ToCountry", "US"), ("SmsMessageSid", sid), ("NumMedia", "0"),
                 ("SmsSid", sid), ("SmsStatus", "received"), ("Body", body),
                 ("To", SMS_NUMBER), ("NumSegments", "1"), ("MessageSid", sid),
                 ("AccountSid", ACCOUNT_SID), ("From", phone), ("ApiVersion", "2010-04-01")]
        answer = await self.client.post("/webhooks/twilio", **signed_post("/webhooks/twilio",
                                                                         pairs))
        assert answer.status_code == 200 and "<Response></Response>" in answer.text
        assert await build_inbound_worker(self.app).consume_once() == 1
        await self._deliver()
        replies = self._new_messages()
        assert set(replies) == {phone}, replies
        seen = "\n".join(replies[phone])
        self.log.append(f"{phone} > {body}\n{seen}")
        return seen

    async def notifications(self) -> dict[str, list[str]]:
        await relay_once(self.app.state.db, self.app.state.redis)
        await build_notifier(self.app).consume_once()
        await self._deliver()
        fresh = self._new_messages()
        self.log.extend(f"{phone} <- {body}" for phone, bodies in fresh.items() for body in bodies)
        return fresh


async def test_a_hindi_sms_complaint_is_assigned_resolved_and_rated_over_twilio(
        client: httpx.AsyncClient, app: Any, auth: Any) -> None:
    fake = FakeTwilio(keep_accepting=True)
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake)) as http:
        sender = TwilioSender.from_settings(app.state.settings, http)
        assert sender is not None
        channels_of(app).senders["twilio"] = sender
        phones = Phones(client, app, fake)

        assert "शिकायत दर्ज करें" in await phones.text(SUNITA, "नमस्ते")
        assert "क्या यही समस्या है?" in await phones.text(SUNITA, "स्ट्रीट लाइट खराब है")
        await phones.text(SUNITA, "हाँ")
        await phones.text(SUNITA, "देहरादून")
        assert "राजपुर" in await phones.text(SUNITA, "राजपुर")
        await phones.text(SUNITA, "1")
        await phones.text(SUNITA, "खंभा 14 की बत्ती बंद है")
        filed = await phones.text(SUNITA, "हाँ")
        found = re.search(r"(PG-UK-DDN-\d{4}-\d{6})", filed)
        assert found, filed
        number = found.group(1)

        await phones.text(GRO, "नमस्ते")
        assert "स्ट्रीट लाइट" in await phones.text(GRO, "मेरे काम")
        assert number in await phones.text(GRO, "1")
        assert "Ramesh Negi" in await phones.text(GRO, "सौंपें")
        assert "Ramesh Negi को सौंप दी गई" in await phones.text(GRO, "Ramesh Negi")
        told = await phones.notifications()
        assert number in told[LME][0] and number in told[SUNITA][0]

        await phones.text(LME, "नमस्ते")
        await phones.text(LME, "मेरे काम")
        assert number in await phones.text(LME, "1")
        await phones.text(LME, "हल हो गई")
        resolved = await phones.text(LME, "बल्ब बदल दिया गया")
        assert f"शिकायत {number} हल के रूप में दर्ज हो गई" in resolved
        told = await phones.notifications()
        assert told[SUNITA][0].startswith(f"आपकी शिकायत {number} का समाधान हो गया है")

        # "Fixed?" "1. हाँ": the answer to the notification rates the complaint.
        await phones.text(SUNITA, "1")
        await phones.text(SUNITA, "5")
        assert "5 में से 5" in await phones.text(SUNITA, "बहुत जल्दी ठीक हुआ")

    complaint = (await client.get(f"/api/v1/complaints/{number}",
                                  headers=await auth.staff("gro.dehradun"))).json()
    assert (complaint["status"], complaint["rating"], complaint["source"]) == (
        "CLOSEDAFTERRESOLUTION", 5, "sms")
    assert [h["action"] for h in complaint["history"]] == ["APPLY", "ASSIGN", "RESOLVE", "RATE"]
    print("\n\n".join(phones.log))
