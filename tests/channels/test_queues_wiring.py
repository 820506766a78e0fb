"""The queues inside the app: embedded mode, the simulator sender, opt-outs, provider choice."""

from __future__ import annotations

import pytest

from bot.messages import Outgoing
from bot.notifier import Notification
from channels.base import OutboundJob, SendError, SendErrorKind, outgoing_to_dict
from channels.queues import NotificationSink, OutboundQueue
from samvad.settings import Settings
from samvad.worker import build_send_worker
from tests.channels.queue_fakes import FakeClock, FakeSender

SUNITA, RAHUL = "+919876500001", "+919876500002"


async def test_embedded_mode_answers_the_simulator_at_once_and_notifies_via_its_inbox(
        app, client, auth, redis_client):
    channels = app.state.channels
    assert set(channels.senders) == {"simulator"}
    turn = await client.post("/simulator/messages",
                             json={"from": RAHUL, "channel": "sms", "text": "hi"})
    assert turn.status_code == 200 and turn.json()["replies"]  # synchronous, as before
    assert await redis_client.xlen("samvad:inbound") == 0  # the simulator skips the queues
    await channels.notifications.deliver("sms", Notification(
        RAHUL, "en_IN", "complaint_update", Outgoing("Complaint PGR-1 is resolved."), "ev-1"))
    assert await build_send_worker(app, consumer="t").consume_once() == 1
    inbox = await client.get("/simulator/messages", params={"from": RAHUL, "channel": "sms"})
    assert [r["text"] for r in inbox.json()["replies"]] == ["Complaint PGR-1 is resolved."]
    record = await client.get(f"/api/v1/channel-messages/n:ev-1:{RAHUL}",
                              headers=auth.service())
    assert record.status_code == 200, record.text
    assert {k: record.json()[k] for k in ("provider", "channel", "kind", "status")} == {
        "provider": "simulator", "channel": "sms", "kind": "complaint_update",
        "status": "delivered"}


async def test_a_provider_opt_out_marks_the_citizen_opted_out(app, client, auth):
    sender = FakeSender(FakeClock(), script={
        "SMx:0": [SendError(SendErrorKind.OPTED_OUT, "21610", "unsubscribed recipient")]})
    app.state.channels.senders["fake"] = sender
    await app.state.channels.outbound.enqueue(OutboundJob(
        provider="fake", channel="sms", to=SUNITA, message=outgoing_to_dict(Outgoing("hi")),
        job_id="SMx:0"))
    assert await build_send_worker(app, consumer="t").consume_once() == 1
    me = await client.get("/api/v1/citizens/me", headers=auth.service(SUNITA))
    assert me.json()["opted_out"] is True
    record = await client.get("/api/v1/channel-messages/SMx:0", headers=auth.service())
    assert (record.json()["status"], record.json()["error_code"]) == ("failed", "21610")
    assert len(sender.calls) == 1


@pytest.mark.parametrize(("env", "whatsapp", "sms"), [
    ({}, "simulator", "simulator"),
    ({"TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886", "TWILIO_SMS_FROM": "+14155550100"},
     "twilio", "twilio"),
    ({"WHATSAPP_PHONE_NUMBER_ID": "1234567890", "TWILIO_WHATSAPP_FROM": "whatsapp:+1415"},
     "meta", "simulator"),
])
async def test_notifications_go_to_the_provider_configured_for_their_channel(
        redis_client, env, whatsapp, sms):
    settings = Settings(SAMVAD_ENV="development", **env)
    sink = NotificationSink(OutboundQueue(redis_client), {"whatsapp": settings.whatsapp_provider,
                                                         "sms": settings.sms_provider})
    for channel in ("whatsapp", "sms"):
        await sink.deliver(channel, Notification(SUNITA, "hi_IN", "payment_receipt",
                                                 Outgoing("paid"), "ev-9"))
    [on_whatsapp] = await sink.outbound.waiting("whatsapp", SUNITA)
    [on_sms] = await sink.outbound.waiting("sms", SUNITA)
    assert (on_whatsapp.job.provider, on_sms.job.provider) == (whatsapp, sms)
    assert on_sms.job.job_id == f"n:ev-9:{SUNITA}"
    assert (on_sms.job.kind, on_sms.job.locale) == ("payment_receipt", "hi_IN")
