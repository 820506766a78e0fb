"""The queues inside the app: embedded mode, the simulator sender, opt-outs, provider choice."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from bot.messages import Outgoing
from bot.notifier import Notification, Route
from bot.services import ServiceError
from channels.base import OutboundJob, SendError, SendErrorKind, outgoing_to_dict
from channels.queues import MessageCosts, NotificationSink, OutboundQueue
from channels.render import render_sms, sms_segments
from samvad.settings import Settings
from samvad.worker import build_send_worker
from tests.channels.queue_fakes import FakeClock, FakeSender

pytestmark = pytest.mark.redis  # on one Redis and on a Redis Cluster

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


def core_paths(store, monkeypatch) -> list[str]:
    """The paths of the core API requests ``store`` makes from now on, in order."""
    paths: list[str] = []
    real = store.client.request

    async def counted(method, path, *args, **kwargs):
        paths.append(path)
        return await real(method, path, *args, **kwargs)

    monkeypatch.setattr(store.client, "request", counted)
    return paths


async def test_delivery_records_asked_together_go_in_one_batch_in_order(app, client, auth,
                                                                        monkeypatch):
    store = app.state.channels.statuses
    paths = core_paths(store, monkeypatch)

    def job(i: int) -> OutboundJob:
        return OutboundJob(provider="twilio", channel="sms", to=f"+9198765001{i:02d}",
                           message=outgoing_to_dict(Outgoing("Bill due")), kind="bill_reminder",
                           job_id=f"batch:{i}")

    # Asked at once: one request; a job's later record (sent after queued) wins in order.
    await asyncio.gather(
        store.record(job(0), "queued", error_code="20429", attempts=1),
        *(store.record(job(i), "sent", provider_message_id=f"SMb{i}", attempts=2)
          for i in range(10)),
        store.record(job(10), "failed", error_code="21211", attempts=1))
    assert paths == ["/api/v1/channel-messages/batch"]
    for i in range(11):
        record = (await client.get(f"/api/v1/channel-messages/batch:{i}",
                                   headers=auth.service())).json()
        expected = ("failed", None, 1) if i == 10 else ("sent", f"SMb{i}", 2)
        assert (record["status"], record["provider_message_id"], record["attempts"]) == expected
    assert (await client.get("/api/v1/channel-messages/batch:0",
                             headers=auth.service())).json()["error_code"] == "20429"
    # A refused batch fails each of its callers; the next batch is written as usual.
    bad = OutboundJob(provider="twilio", channel="sms", to="12345",
                      message=outgoing_to_dict(Outgoing("x")), job_id="batch:bad")
    results = await asyncio.gather(store.record(bad, "sent"), store.record(job(11), "sent"),
                                   return_exceptions=True)
    assert all(isinstance(r, ServiceError) and r.status == 422 for r in results), results
    await store.record(job(11), "sent", attempts=1)  # alone: a batch of one
    assert paths[-1] == "/api/v1/channel-messages/batch"
    assert (await client.get("/api/v1/channel-messages/batch:11",
                             headers=auth.service())).json()["status"] == "sent"


async def test_status_callbacks_close_together_go_in_one_request(app, client, auth,
                                                                  monkeypatch):
    store = app.state.channels.statuses
    paths = core_paths(store, monkeypatch)
    await store.record(OutboundJob(provider="twilio", channel="sms", to=SUNITA,
                                   message=outgoing_to_dict(Outgoing("Bill due")),
                                   job_id="cb:0"), "sent", provider_message_id="SMcb0")
    paths.clear()
    # The provider's callbacks for one message, each a webhook of its own, at once.
    await asyncio.gather(*(store.update("twilio", "SMcb0", status)
                           for status in ("sent", "delivered", "read")))
    assert paths == ["/api/v1/channel-messages/statuses"]
    record = (await client.get("/api/v1/channel-messages/cb:0", headers=auth.service())).json()
    assert (record["status"], bool(record["delivered_at"])) == ("read", True)
    # One the API refuses fails alone: the others of its batch are written one by one.
    paths.clear()
    results = await asyncio.gather(store.update("twilio", "SMcb0", "failed", error_code="x" * 30),
                                   store.update("twilio", "SMcb1", "delivered"),
                                   return_exceptions=True)
    assert isinstance(results[0], ServiceError) and results[0].status == 422, results
    assert results[1] is None
    assert paths == ["/api/v1/channel-messages/statuses"] * 3
    record = (await client.get("/api/v1/channel-messages/cb:0", headers=auth.service())).json()
    assert record["status"] == "read"


async def test_a_worker_draining_many_mailboxes_records_every_send(app, client, auth):
    sender = FakeSender(FakeClock())
    app.state.channels.senders["fake"] = sender
    jobs = [OutboundJob(provider="fake", channel="sms", to=f"+9198765002{i:02d}",
                        message=outgoing_to_dict(Outgoing(f"n{i}")), job_id=f"fan:{i}")
            for i in range(24)]
    await app.state.channels.outbound.enqueue(*jobs)
    assert await build_send_worker(app, consumer="t", concurrency=24).consume_once() == 24
    assert len(sender.sent) == 24
    for job in jobs:
        record = (await client.get(f"/api/v1/channel-messages/{job.job_id}",
                                   headers=auth.service())).json()
        assert record["status"] == "queued" and record["provider_message_id"].startswith("FAKE")


async def test_each_delivery_records_rule_segments_and_cost_summed_on_the_dashboard(
        app, client, auth):
    """SMS: segments x the SMS rate; WhatsApp in the window: free-form, nothing; a kind's
    own rate (SAMVAD_MESSAGE_COSTS "kinds") wins; the state dashboard sums them."""
    channels = app.state.channels
    channels.statuses.costs = MessageCosts({"sms_segment": 0.3,
                                            "kinds": {"payment_receipt": {"sms_segment": 0.5}}})
    hindi = "आपकी शिकायत पर काम पूरा हो गया है और नई तार लगा दी गई है। " * 4
    deliveries = [("sms", "complaint_update", hindi, "case_channel"),
                  ("sms", "payment_receipt", "Paid Rs.10, receipt RCPT-1.", "default_sms"),
                  ("whatsapp", "complaint_update", "Resolved.", "last_active")]
    for n, (channel, kind, text, rule) in enumerate(deliveries):
        await channels.notifications.deliver(channel, Notification(
            SUNITA, "hi_IN", kind, Outgoing(text), f"ev-cost-{n}",
            route=Route(channel, rule)))
    assert await build_send_worker(app, consumer="t").consume_once() == 3
    records = [(await client.get(f"/api/v1/channel-messages/n:ev-cost-{n}:{SUNITA}",
                                 headers=auth.service())).json() for n in range(3)]
    assert sms_segments(render_sms(Outgoing(hindi))).segments > 3
    hindi_segments = 3  # fitted to the budget
    assert [(r["rule"], r["segments"], Decimal(r["cost"])) for r in records] == [
        ("case_channel", hindi_segments, Decimal("0.3") * hindi_segments),
        ("default_sms", 1, Decimal("0.5")),
        ("last_active", None, Decimal("0"))]  # the simulator counts as inside the window
    total = Decimal("0.3") * hindi_segments + Decimal("0.5")
    costs = (await client.get("/api/v1/channel-messages/costs", params={"to": SUNITA},
                              headers=auth.service())).json()
    assert Decimal(costs["total"]) == total and costs["messages"] == 3
    assert (await client.get("/api/v1/channel-messages/costs",
                             headers=await auth.staff("admin"))).status_code == 403
    chat = (await client.get("/api/v1/dashboard/summary", params={"tenantId": "uk"},
                             headers=await auth.staff("admin"))).json()["chat"]
    assert Decimal(str(chat["message_costs"]["total"])) == total
    by_channel = {r["channel"]: (r["messages"], Decimal(str(r["cost"])))
                  for r in chat["message_costs"]["by_channel"]}
    assert by_channel == {"sms": (2, total), "whatsapp": (1, Decimal("0"))}
