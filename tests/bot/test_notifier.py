"""Notifications from events: the message mapping, once-only delivery, opted-out people,
the "is it fixed?" question of a resolved complaint (with the LME's photo) and the pending
follow-up it leaves for the citizen's answer."""

from __future__ import annotations

import orjson
import pytest

from bot.followup import CaseFollowUps, FollowUp
from bot.notifier import Notification, Notifier, asks_fixed, notifications_for
from bot.session_store import SessionStore
from channels.queues import simulator_delivery
from tests.event_examples import example

pytestmark = pytest.mark.redis  # on one Redis and on a Redis Cluster

PAYMENT = example("payment.completed", payer_phone="+919876500001", payer_locale="hi_IN",
                  amount="1236.50", bill_number="BILL-DDN-2026-000002",
                  receipt_number="RCPT-DDN-2026-000002",
                  receipt_link="http://127.0.0.1:8000/files/r.pdf?exp=1&sig=x")


class RecordingSink:
    def __init__(self) -> None:
        self.delivered: list[tuple[str, Notification]] = []

    async def deliver(self, channel: str, notification: Notification) -> None:
        self.delivered.append((channel, notification))


def fields(event_id: str, topic: str, payload: dict) -> dict[bytes, bytes]:
    return {b"event_id": event_id.encode(), b"topic": topic.encode(),
            b"payload": orjson.dumps(payload)}


def test_payment_completed_speaks_the_payers_language_and_carries_the_receipt():
    [note] = notifications_for("e1", "payment.completed", PAYMENT)
    assert note.phone == "+919876500001" and note.kind == "payment_receipt"
    assert "₹1,236.50" in note.message.text and "RCPT-DDN-2026-000002" in note.message.text
    assert "भुगतान" in note.message.text
    assert note.message.media[0].content_type == "application/pdf"


def test_filing_itself_is_not_announced_again():
    payload = example("complaint.status_changed", status="PENDINGFORASSIGNMENT",
                      action="APPLY", citizen_phone="+91987",
                      complaint_id="PG-UK-DDN-2026-000001")
    assert notifications_for("e2", "complaint.status_changed", payload) == []
    resolved = {**payload, "status": "RESOLVED", "action": "RESOLVE", "citizen_locale": "en_IN"}
    [note] = notifications_for("e3", "complaint.status_changed", resolved)
    assert "PG-UK-DDN-2026-000001" in note.message.text and "resolved" in note.message.text


async def test_each_event_is_delivered_once_and_never_to_opted_out_people(redis_client):
    sink = RecordingSink()
    stopped = {"+919876500002"}

    async def opted_out(phone: str) -> bool:
        return phone in stopped

    notifier = Notifier(redis_client, SessionStore(redis_client), sink, opted_out=opted_out,
                        router=simulator_delivery(redis_client, SessionStore(redis_client)))
    assert await notifier.handle(fields("e4", "payment.completed", PAYMENT)) == 1
    assert await notifier.handle(fields("e4", "payment.completed", PAYMENT)) == 0  # replayed
    other = {**PAYMENT, "payer_phone": "+919876500002"}
    assert await notifier.handle(fields("e5", "payment.completed", other)) == 0
    assert [(channel, n.phone) for channel, n in sink.delivered] == [("sms", "+919876500001")]


RESOLVED = example("complaint.status_changed", complaint_id="PG-UK-DDN-2026-000009",
                   status="RESOLVED", previous_status="PENDINGATLME", action="RESOLVE",
                   comment="बल्ब बदल दिया गया", citizen_phone="+919876500001",
                   citizen_locale="hi_IN", channel="sms",
                   photo_urls=["http://127.0.0.1:8000/files/c/9/after.png?exp=1&sig=x"])


def test_resolved_asks_whether_it_is_fixed_and_carries_the_lmes_photo():
    [note] = notifications_for("e6", "complaint.status_changed", RESOLVED)
    assert note.kind == "complaint_update" and note.case_channel == "sms"
    assert note.message.text == ("आपकी शिकायत PG-UK-DDN-2026-000009 का समाधान हो गया है। "
                                 "बल्ब बदल दिया गया\nक्या समस्या अब ठीक हो गई है?")
    assert [(o.id, o.label) for o in note.message.options] == [
        ("case_yes", "हाँ, ठीक हो गई"), ("case_no", "नहीं, अब भी खराब")]
    [photo] = note.message.media
    assert (photo.url, photo.content_type) == (RESOLVED["photo_urls"][0], "image/png")
    assert asks_fixed(note) == "PG-UK-DDN-2026-000009"
    # No photo: no media; other updates ask nothing.
    [plain] = notifications_for("e7", "complaint.status_changed",
                                {**RESOLVED, "photo_urls": None, "citizen_locale": "en_IN"})
    assert plain.message.media == () and plain.message.text.endswith("Is the problem fixed now?")
    [assigned] = notifications_for("e8", "complaint.status_changed",
                                   {**RESOLVED, "status": "PENDINGATLME", "action": "ASSIGN",
                                    "assignee_phone": None})
    assert assigned.message.options == () and asks_fixed(assigned) is None


def test_a_complaint_closed_for_want_of_an_answer_says_so():
    closed = {**RESOLVED, "status": "CLOSEDAFTERRESOLUTION", "action": "AUTOCLOSE",
              "comment": None, "photo_urls": None}
    [note] = notifications_for("e9", "complaint.status_changed",
                               {**closed, "citizen_locale": "en_IN"})
    assert note.message.text == ("Your complaint PG-UK-DDN-2026-000009 was closed as resolved, "
                                 "since we had no reply from you. Thank you.")
    # Rating (like filing and reopening) is the citizen's own step, answered in the chat.
    for action in ("RATE", "REOPEN", "APPLY"):
        sent = notifications_for("e10", "complaint.status_changed",
                                 {**closed, "action": action, "citizen_locale": "pa_IN"})
        assert [n for n in sent if n.kind == "complaint_update"] == []


async def test_the_question_sent_waits_for_the_answer_of_that_phone(redis_client):
    follow_ups = CaseFollowUps(redis_client)
    sink = RecordingSink()
    notifier = Notifier(redis_client, SessionStore(redis_client), sink, follow_ups=follow_ups,
                        router=simulator_delivery(redis_client, SessionStore(redis_client)))
    assert await notifier.handle(fields("e11", "complaint.status_changed", RESOLVED)) == 1
    pending = await follow_ups.pending("+919876500001")
    assert pending == FollowUp("PG-UK-DDN-2026-000009", "hi_IN")
    assert 0 < await redis_client.ttl(follow_ups.key("+919876500001")) <= 7 * 24 * 3600
    # A payment receipt to the same phone asks nothing and leaves the question alone.
    assert await notifier.handle(fields("e12", "payment.completed", PAYMENT)) == 1
    assert await follow_ups.pending("+919876500001") == pending
    # Settling another complaint does not answer this one; settling this one does.
    assert not await follow_ups.settle("+919876500001", "PG-UK-DDN-2026-000001")
    assert await follow_ups.settle("+919876500001", "PG-UK-DDN-2026-000009")
    assert await follow_ups.pending("+919876500001") is None


async def test_an_opted_out_citizen_is_asked_nothing(redis_client):
    follow_ups = CaseFollowUps(redis_client)

    async def opted_out(phone: str) -> bool:
        return True

    notifier = Notifier(redis_client, SessionStore(redis_client), RecordingSink(),
                        opted_out=opted_out, follow_ups=follow_ups,
                        router=simulator_delivery(redis_client, SessionStore(redis_client)))
    assert await notifier.handle(fields("e13", "complaint.status_changed", RESOLVED)) == 0
    assert await follow_ups.pending("+919876500001") is None


def test_citizen_notifications_carry_their_case_channel_and_details():
    [paid] = notifications_for("e6", "payment.completed", {**PAYMENT, "channel": "sms"})
    assert (paid.case_channel, paid.details) == ("sms", ("receipt", "RCPT-DDN-2026-000002"))
    issued = example("certificate.issued", citizen_phone="+919876500001",
                     request_number="BND-DDN-2026-000001", channel="whatsapp")
    [note] = notifications_for("e7", "certificate.issued", issued)
    assert (note.case_channel, note.details) == ("whatsapp",
                                                 ("certificate", "BND-DDN-2026-000001"))
    rejected = example("certificate.status_changed", citizen_phone="+919876500001",
                       request_number="BND-DDN-2026-000001", status="REJECTED", channel=None)
    [note] = notifications_for("e8", "certificate.status_changed", rejected)
    assert (note.case_channel, note.details) == (None, ("certificate", "BND-DDN-2026-000001"))
    complaint = example("complaint.status_changed", status="REJECTED", action="REJECT",
                        citizen_phone="+919876500001", complaint_id="PG-UK-DDN-2026-000001",
                        channel="sms", assignee_phone=None, gros=[])
    [note] = [n for n in notifications_for("e9", "complaint.status_changed", complaint)
              if n.phone == "+919876500001"]
    assert (note.case_channel, note.details) == ("sms", ("complaint", "PG-UK-DDN-2026-000001"))
