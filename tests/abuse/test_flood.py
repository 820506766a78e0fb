"""A flood from one number: past the per-minute limit the sender hears one polite, localized
"too fast" reply and the rest is dropped, while another citizen is served as usual."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bot.i18n import translate
from bot.session import Session
from bot.session_store import conversation_key
from channels.queues import channels_of
from channels.queues._inbound import FLOOD
from channels.twilio import TwilioSender
from samvad.worker import build_inbound_worker, build_send_worker
from tests.abuse.conftest import PER_MINUTE
from tests.channels.twilio.twilio_testkit import FakeTwilio, payload, signed_post

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(120)]

FLOODER = "+919876500001"
OTHER = "+919876500002"
INBOUND = "/webhooks/twilio"


def _message(phone: str, n: int, text: str) -> list[tuple[str, str]]:
    sid = f"SM{phone[-4:]}{n:028d}"
    replace = {"From": f"whatsapp:{phone}", "WaId": phone[1:], "Body": text,
               "MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid}
    return [(k, replace.get(k, v)) for k, v in payload("whatsapp_text")]


async def _drain(worker: Any) -> int:
    total = 0
    for _ in range(50):
        done = await worker.consume_once()
        if not done:
            return total
        total += done
    raise AssertionError("the queue did not drain")


async def test_a_flood_is_answered_once_and_dropped_without_slowing_others(
        client: httpx.AsyncClient, app: Any, redis_client: Any, reliability: Any) -> None:
    channels = channels_of(app)
    store = app.state.conversations.store
    flooder_session = store.keys(conversation_key("whatsapp", FLOODER)).session
    await redis_client.set(flooder_session, Session(locale="hi_IN").dumps())

    flood, others = 4 * PER_MINUTE, PER_MINUTE - 1
    dropped_before = FLOOD.labels("twilio", "dropped")._value.get()
    ignored: dict[str, list[str | None]] = {FLOODER: [], OTHER: []}
    for n in range(flood):  # the other citizen writes in between the flood
        answer = await client.post(INBOUND, **signed_post(INBOUND, _message(FLOODER, n, "hi")))
        assert answer.status_code == 200, answer.text
        ignored[FLOODER].append(answer.headers.get("X-Samvad-Ignored"))
        if n % 4 == 0 and len(ignored[OTHER]) < others:
            text = "hi" if not ignored[OTHER] else "menu"
            other = await client.post(INBOUND, **signed_post(
                INBOUND, _message(OTHER, n, text)))
            assert other.status_code == 200, other.text
            ignored[OTHER].append(other.headers.get("X-Samvad-Ignored"))

    dropped = flood - PER_MINUTE - 1
    assert ignored[FLOODER] == [None] * (PER_MINUTE + 1) + [
        "too many messages from this sender"] * dropped
    assert ignored[OTHER] == [None] * others
    assert FLOOD.labels("twilio", "dropped")._value.get() - dropped_before == dropped
    assert len(await channels.inbound.waiting("whatsapp", FLOODER)) == PER_MINUTE + 1
    assert len(await channels.inbound.waiting("whatsapp", OTHER)) == others

    handled = await _drain(build_inbound_worker(app))
    assert handled == PER_MINUTE + 1 + others
    fake = FakeTwilio(keep_accepting=True)
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake)) as http:
        sender = TwilioSender.from_settings(app.state.settings, http)
        assert sender is not None
        channels.senders["twilio"] = sender
        await _drain(build_send_worker(app))

    def bodies(phone: str) -> list[str]:
        return [form["Body"][0] for form in fake.forms if form["To"] == [f"whatsapp:{phone}"]]

    notice = translate("hi_IN", "global.too_fast")
    assert "मिनट" in notice
    assert bodies(FLOODER).count(notice) == 1
    assert len(bodies(FLOODER)) >= PER_MINUTE + 1  # its first messages had their turns
    assert len(bodies(OTHER)) >= others and translate("en_IN", "global.too_fast") not in (
        bodies(OTHER)) and notice not in bodies(OTHER)
    reliability.record(
        area="abuse", case="Flood from one number (per-sender inbound limit)",
        sent=f"{flood} signed Twilio messages in a burst from one number (limit "
             f"{PER_MINUTE}/min), {others} from another citizen in between",
        did=f"first {PER_MINUTE} had their turns; the next got one polite Hindi 'too fast' "
            f"reply; {dropped} dropped (200 to Twilio so it does not retry; counted in "
            f"samvad_inbound_flood); the other "
            f"citizen's {others} turns all answered",
        lost=f"nothing wanted: {dropped} flood messages dropped by design; other citizen "
             f"{others}/{others} handled")


async def test_a_flood_through_the_meta_webhook_is_cut_the_same_way(
        redis_client: Any, tmp_path: Any, reliability: Any) -> None:
    from pathlib import Path
    from types import SimpleNamespace

    from fastapi import FastAPI

    from channels.meta_whatsapp import router as meta_router
    from channels.meta_whatsapp import signature_header
    from samvad.settings import Settings
    from tests.channels.twilio.twilio_testkit import RecordingQueue, RecordingStatuses

    secret, limit = "meta-flood-secret", 2
    app = FastAPI()
    app.include_router(meta_router)
    app.state.redis = redis_client
    app.state.settings = Settings(SAMVAD_DATA_DIR=tmp_path, WHATSAPP_APP_SECRET=secret,
                                  WHATSAPP_PHONE_NUMBER_ID="106540352242922",
                                  SAMVAD_INBOUND_PER_MINUTE=limit)
    queue = RecordingQueue(redis_client)
    app.state.channels = SimpleNamespace(inbound=queue, statuses=RecordingStatuses())
    template = (Path(__file__).resolve().parents[2] / "channels" / "meta_whatsapp" /
                "testdata" / "text.json").read_bytes()
    wamid = b"wamid.HBgMOTE5ODc2NTAwMDAxFQIAEhggQTFCMkMzRDRFNUY2"
    answers = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as client:
        for n in range(6):
            body = template.replace(wamid, f"wamid.flood{n:04d}".encode())
            response = await client.post("/webhooks/whatsapp", content=body, headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": signature_header(secret, body)})
            answers.append(response.status_code)
    assert answers == [200] * 6  # Meta must not redeliver what we dropped on purpose
    assert [inbound.message_id for inbound, _ in queue.items] == [
        "wamid.flood0000", "wamid.flood0001", "wamid.flood0002"]
    assert queue.notices == ["wamid.flood0002"]
    reliability.record(
        area="abuse", case="Flood from one number through the Meta webhook",
        sent=f"6 signed Meta deliveries from one number (limit {limit}/min)",
        did=f"{limit} queued for turns, the next queued as the 'too fast' notice, 3 dropped; "
            "every delivery answered 200 so that Meta does not redeliver",
        lost="nothing wanted: 3 flood messages dropped by design")
