"""Notifications from events: the message mapping, once-only delivery, opted-out people."""

from __future__ import annotations

import orjson

from bot.notifier import Notification, Notifier, notifications_for
from bot.session_store import SessionStore
from tests.event_examples import example

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

    notifier = Notifier(redis_client, SessionStore(redis_client), sink, opted_out=opted_out)
    assert await notifier.handle(fields("e4", "payment.completed", PAYMENT)) == 1
    assert await notifier.handle(fields("e4", "payment.completed", PAYMENT)) == 0  # replayed
    other = {**PAYMENT, "payer_phone": "+919876500002"}
    assert await notifier.handle(fields("e5", "payment.completed", other)) == 0
    assert [(channel, n.phone) for channel, n in sink.delivered] == [("sms", "+919876500001")]
