"""The delivery policy, written once: which channel, provider and number each notification
takes, templates and the 24-hour window, and the SMS fallback at most once."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from bot.messages import Outgoing
from bot.notifier import Notifier, Route
from bot.session_store import SessionStore
from channels.base import OutboundJob, SendError, SendErrorKind, outgoing_to_dict
from channels.queues import DeliveryPolicy, template_of
from channels.render import render_sms, sms_segments
from tests.channels.delivery_fakes import (
    CITIZEN,
    OUR_META_NUMBER,
    OUR_SMS,
    OUR_TWILIO_WHATSAPP,
    PolicyRig,
    note,
)
from tests.event_examples import example

pytestmark = pytest.mark.redis  # on one Redis and on a Redis Cluster

TEMPLATES = {"complaint_update": {"default": "samvad_complaint_update"}}


async def test_the_case_channel_wins_even_after_whatsapp_was_used(redis_client):
    rig = PolicyRig(redis_client)
    await rig.wrote("whatsapp", "meta", OUR_META_NUMBER)
    route = await rig.policy.route(note(case_channel="sms"))
    assert route == Route("sms", "case_channel", "twilio", None)  # never wrote by SMS
    await rig.wrote("sms", "twilio", OUR_SMS, n=2)
    assert await rig.policy.route(note(case_channel="sms")) == Route(
        "sms", "case_channel", "twilio", OUR_SMS)


async def test_the_provider_and_number_the_person_used_are_kept(redis_client):
    # Meta is the configured WhatsApp provider, but this citizen chats on Twilio WhatsApp.
    rig = PolicyRig(redis_client)
    await rig.wrote("whatsapp", "twilio", OUR_TWILIO_WHATSAPP)
    assert await rig.policy.route(note(case_channel="whatsapp")) == Route(
        "whatsapp", "case_channel", "twilio", OUR_TWILIO_WHATSAPP)
    # Someone who chats with the Meta number gets Meta, from that number.
    other = "+919876500002"
    await rig.wrote("whatsapp", "meta", OUR_META_NUMBER, phone=other, n=2)
    assert await rig.policy.route(note(phone=other, case_channel="whatsapp")) == Route(
        "whatsapp", "case_channel", "meta", OUR_META_NUMBER)


async def test_without_a_case_channel_the_last_active_one_then_sms(redis_client):
    rig = PolicyRig(redis_client)
    assert await rig.policy.route(note()) == Route("sms", "default_sms", "twilio", None)
    await rig.wrote("whatsapp", "twilio", OUR_TWILIO_WHATSAPP)
    rig.clock.t += 60
    await rig.wrote("sms", "twilio", OUR_SMS, n=2)
    assert await rig.policy.route(note()) == Route("sms", "last_active", "twilio", OUR_SMS)
    rig.clock.t += 60
    await rig.wrote("whatsapp", "twilio", OUR_TWILIO_WHATSAPP, n=3)
    assert await rig.policy.route(note()) == Route(
        "whatsapp", "last_active", "twilio", OUR_TWILIO_WHATSAPP)
    # A case channel that is not configured is passed over.
    only_whatsapp = DeliveryPolicy(rig.windows, {"whatsapp": "meta", "sms": "simulator"})
    assert (await only_whatsapp.route(note(phone="+919876500009", case_channel="sms"))
            == Route("whatsapp", "default_sms", "meta", None))


async def test_the_notifier_routes_once_and_never_to_opted_out_people(redis_client):
    rig = PolicyRig(redis_client)
    delivered: list[tuple[str, object]] = []

    class Sink:
        async def deliver(self, channel, notification):
            delivered.append((channel, notification.route))

    async def opted_out(phone: str) -> bool:
        return phone == "+919876500002"

    notifier = Notifier(redis_client, SessionStore(redis_client), Sink(), opted_out=opted_out,
                        router=rig.policy)
    payload = example("payment.completed", payer_phone=CITIZEN, payer_locale="hi_IN",
                      amount="10.00", bill_number="B-1", receipt_number="R-1",
                      receipt_link=None, channel="sms")
    fields = {b"event_id": b"e1", b"topic": b"payment.completed",
              b"payload": orjson.dumps(payload)}
    assert await notifier.handle(fields) == 1
    assert await notifier.handle(fields) == 0  # the relay published it twice
    stopped = {**fields, b"event_id": b"e2",
               b"payload": orjson.dumps({**payload, "payer_phone": "+919876500002"})}
    assert await notifier.handle(stopped) == 0
    assert delivered == [("sms", Route("sms", "case_channel", "twilio", None))]


async def test_whatsapp_is_free_form_inside_the_window_and_a_template_outside(redis_client):
    rig = PolicyRig(redis_client, templates=TEMPLATES)
    await rig.wrote("whatsapp", "meta", OUR_META_NUMBER)
    route = await rig.policy.route(note())
    await rig.sink.deliver(route.channel, replace(note(event_id="in-window"), route=route))
    await rig.send_all()
    rig.clock.t += 25 * 3600  # the window closed
    await rig.sink.deliver("whatsapp", note(event_id="later"))
    await rig.send_all()
    [(p1, c1, first), (p2, c2, second)] = rig.sent()
    assert (p1, c1, template_of(first)) == ("meta", "whatsapp", None)
    assert first.sender == OUR_META_NUMBER
    assert (p2, c2) == ("meta", "whatsapp")
    assert template_of(second).id == "samvad_complaint_update"
    assert template_of(second).variables == ("Complaint PG-1 is resolved.",)


async def test_no_template_outside_the_window_goes_as_sms_once(redis_client):
    rig = PolicyRig(redis_client)  # no templates at all
    await rig.sink.deliver("whatsapp", note(details=("complaint", "PG-UK-DDN-2026-000001")))
    assert await rig.send_all() == 2  # the WhatsApp job (not sent) and its SMS
    [(provider, channel, sms)] = rig.sent()
    job_id = f"n:ev-1:{CITIZEN}"
    assert (provider, channel, sms.job_id) == ("twilio", "sms", f"{job_id}:sms")
    assert sms.params["rule"] == "sms_fallback"
    # Short and whole, with nothing to show: no link (a cut text or a document gets one).
    assert sms.message["text"] == "Complaint PG-1 is resolved."
    assert rig.reports.last(job_id) == ("failed", 0, "no_template")
    # Asked again (a second worker, a retried callback): nothing more is sent.
    assert await rig.fallback.send_sms(job_id, "63016") is None
    await rig.send_all()
    assert len(rig.sent()) == 1


async def test_a_synchronous_template_failure_goes_as_sms_once(redis_client):
    rig = PolicyRig(redis_client, templates=TEMPLATES)
    job_id = f"n:ev-1:{CITIZEN}"
    rig.senders["meta"].script[job_id] = [
        SendError(SendErrorKind.CONFIG, "132001", "template does not exist")]
    await rig.sink.deliver("whatsapp", note())
    await rig.send_all()
    assert [(p, c, j.job_id) for p, c, j in rig.sent()] == [
        ("twilio", "sms", f"{job_id}:sms")]
    assert len(rig.senders["meta"].calls) == 1
    assert rig.reports.last(job_id) == ("failed", 1, "132001")


async def test_an_outside_window_refusal_of_free_form_retries_as_template_first(redis_client):
    rig = PolicyRig(redis_client, templates=TEMPLATES)
    await rig.wrote("whatsapp", "meta", OUR_META_NUMBER)  # we believe the window is open
    job_id = f"n:ev-1:{CITIZEN}"
    rig.senders["meta"].script[job_id] = [
        SendError(SendErrorKind.REJECTED, "131047", "re-engagement")]
    await rig.sink.deliver("whatsapp", note())
    await rig.send_all()
    [(provider, channel, sent)] = rig.sent()
    assert (provider, channel, template_of(sent).id) == ("meta", "whatsapp",
                                                          "samvad_complaint_update")


async def test_replies_are_never_rerouted(redis_client):
    rig = PolicyRig(redis_client)
    reply = OutboundJob(provider="meta", channel="whatsapp", to=CITIZEN,
                        message=outgoing_to_dict(Outgoing("Here is your menu")),
                        job_id="wamid.x:0")
    await rig.outbound.enqueue(reply)
    rig.senders["meta"].script["wamid.x:0"] = [
        SendError(SendErrorKind.REJECTED, "131047", "re-engagement")]
    await rig.send_all()
    assert rig.sent() == [] and rig.reports.last("wamid.x:0")[0] == "failed"
    assert not await redis_client.exists("samvad:fallback:wamid.x:0")


async def test_an_sms_notification_fits_three_segments_with_its_short_link(redis_client):
    rig = PolicyRig(redis_client)
    long_hindi = "आपकी शिकायत पर टिप्पणी: " + "सड़क की मरम्मत का काम पूरा कर दिया गया है। " * 12
    await rig.sink.deliver("sms", note(text=long_hindi, locale="hi_IN",
                                       details=("complaint", "PG-UK-DDN-2026-000001")))
    await rig.send_all()
    [(_, _, sms)] = rig.sent()
    body = render_sms(sms.outgoing)
    assert sms_segments(body).segments == 3 and "…\nhttps://city.example/r/" in body
    assert rig.links.asked == [("complaint", "PG-UK-DDN-2026-000001", CITIZEN)]
