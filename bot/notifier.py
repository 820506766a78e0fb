"""Notifications: domain events become messages to citizens, in their language.

``notifications_for`` is pure (event in, messages out); it reads each payload through
the event contract (``core_api.events.contract``: a plain pydantic module that imports
nothing of core_api's models; its docstring says why the bot may import it).
``Notifier`` consumes the events stream with a Redis consumer group, drops repeats by
event id, picks the channel the person last used (WhatsApp when they have a WhatsApp
conversation, else SMS) and hands each message to an ``OutboundSink``. Opted-out
people get nothing.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import structlog
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from bot.i18n import format_amount, format_moment, translate
from bot.messages import Media, Outgoing
from bot.session_store import SessionStore, conversation_key
from core_api.events.contract import (
    CertificateIssued,
    CertificateStatusChanged,
    ComplaintEscalated,
    ComplaintSlaWarning,
    ComplaintStatusChanged,
    EventContractError,
    PaymentCompleted,
    Person,
    read,
)

log = structlog.get_logger(__name__)

EVENTS_STREAM = "samvad:events"  # written by core_api.events.relay
GROUP = "notifier"
DEDUPE_TTL_S = 7 * 24 * 3600

# Complaint statuses a citizen hears about, with the message each gets.
COMPLAINT_MESSAGES = {
    "PENDINGFORASSIGNMENT": "notify.complaint.received",
    "PENDINGATLME": "notify.complaint.assigned",
    "PENDINGFORREASSIGNMENT": "notify.complaint.reassigning",
    "RESOLVED": "notify.complaint.resolved",
    "REJECTED": "notify.complaint.rejected",
    "CLOSEDAFTERRESOLUTION": "notify.complaint.closed",
    "CLOSEDAFTERREJECTION": "notify.complaint.closed",
}
CERTIFICATE_MESSAGES = {
    "PENDINGAPPROVAL": "notify.certificate.pending_approval",
    "REJECTED": "notify.certificate.rejected",
}


@dataclass(frozen=True)
class Notification:
    """One message for one person, with the kind a provider template would use."""

    phone: str
    locale: str | None
    kind: str
    message: Outgoing
    event_id: str


class OutboundSink(Protocol):
    async def deliver(self, channel: str, notification: Notification) -> None: ...


# Event types published that nobody is told about (every other type has a handler).
NOT_NOTIFIED = frozenset({
    "complaint.created",  # complaint.status_changed (APPLY) covers the filing
    "workflow.transitioned",  # the domain events of each business service say it better
    "payment.failed",  # the citizen is on the payment page and sees the failure there
    "payment.needs_review",  # for staff reconciling on the dashboard
})


def notifications_for(event_id: str, topic: str, payload: dict[str, Any]) -> list[Notification]:
    """The messages an event causes (none for events nobody needs to hear about): to the
    citizen concerned, and to the employees who must act (``staff_notifications``).

    The payload is read through the event contract (``core_api.events.contract``): a
    payload that lacks a declared field raises ``EventContractError``."""
    handler = HANDLERS.get(topic)
    if handler is None:
        if topic not in NOT_NOTIFIED:
            log.warning("notification_topic_unknown", topic=topic)
        return []
    return handler(event_id, read(topic, payload))


def _complaint_status_changed(event_id: str, event: ComplaintStatusChanged
                              ) -> list[Notification]:
    return [*_citizen_complaint_update(event_id, event),
            *_staff_for_status(event_id, event)]


def _citizen_complaint_update(event_id: str, event: ComplaintStatusChanged
                              ) -> list[Notification]:
    """What the citizen hears: every status change of their complaint."""
    msgid = COMPLAINT_MESSAGES.get(event.status)
    phone = event.citizen_phone
    if not msgid or not phone:
        return []
    if event.status == "PENDINGFORASSIGNMENT" and event.action == "APPLY":
        return []  # the citizen saw the number in the chat already
    locale = event.citizen_locale
    text = translate(locale, msgid, id=event.complaint_id, comment=event.comment or "")
    if event.status == "RESOLVED":
        text += "\n" + translate(locale, "notify.complaint.rate_hint")
    return [Notification(phone, locale, "complaint_update", Outgoing(text), event_id)]


def _payment_completed(event_id: str, event: PaymentCompleted) -> list[Notification]:
    phone = event.payer_phone
    if not phone:
        return []
    locale = event.payer_locale
    text = translate(locale, "notify.payment.completed",
                     amount=format_amount(event.amount, locale),
                     bill=event.bill_number, receipt=event.receipt_number)
    link = event.receipt_link  # the signed PDF link (payments.service)
    media = (Media(link, "application/pdf", f"{event.receipt_number}.pdf"),) if link else ()
    return [Notification(phone, locale, "payment_receipt", Outgoing(text, media=media),
                         event_id)]


def _certificate_issued(event_id: str, event: CertificateIssued) -> list[Notification]:
    phone = event.citizen_phone
    if not phone:
        return []
    locale = event.citizen_locale
    text = translate(locale, "notify.certificate.issued", number=event.request_number)
    media = (Media(event.download_url, "application/pdf", "certificate.pdf"),)
    return [Notification(phone, locale, "certificate_issued", Outgoing(text, media=media),
                         event_id)]


def _certificate_status_changed(event_id: str, event: CertificateStatusChanged
                                ) -> list[Notification]:
    msgid = CERTIFICATE_MESSAGES.get(event.status)
    phone = event.citizen_phone
    if not msgid or not phone:
        return []
    locale = event.citizen_locale
    text = translate(locale, msgid, number=event.request_number, comment=event.comment or "")
    return [Notification(phone, locale, "certificate_update", Outgoing(text), event_id)]


# Staff notifications: the template kind of each (the 24-hour window picks a template by it).
STAFF_KINDS = {"assigned": "task_assigned", "returned": "task_returned",
               "warning": "sla_warning", "escalated": "escalation"}


def _staff(event_id: str, kind: str, people: list[Person], msgid: str,
           **params: Any) -> list[Notification]:
    """One message per person, each in that person's language; a ``due`` param (ISO
    moment) is shown as the person's locale writes it."""
    found: list[Notification] = []
    for person in people:
        phone, locale = person.phone, person.locale
        if not phone or any(n.phone == phone for n in found):
            continue
        values = dict(params)
        if values.get("due"):
            values["due"] = format_moment(values["due"], locale)
        found.append(Notification(phone, locale, STAFF_KINDS[kind],
                                  Outgoing(translate(locale, msgid, **values)), event_id))
    return found


def staff_notifications(event_id: str, topic: str,
                        payload: dict[str, Any]) -> list[Notification]:
    """What employees hear: a complaint assigned to them (ASSIGN, or REASSIGN by the GRO),
    one sent back for reassignment (its GROs, from ``gros``), and the SLA timer's warning
    and escalation (``recipients``, filled in by the core API's SLA sweep)."""
    if topic == "complaint.status_changed":
        return _staff_for_status(event_id, read(topic, payload))
    if topic in ("complaint.sla_warning", "complaint.escalated"):
        return HANDLERS[topic](event_id, read(topic, payload))
    return []


def _staff_for_status(event_id: str, event: ComplaintStatusChanged) -> list[Notification]:
    number = event.complaint_id
    if event.status == "PENDINGATLME" and event.action in ("ASSIGN", "REASSIGN"):
        assignee = [Person(user_id=event.assignee_user_id, phone=event.assignee_phone,
                           locale=event.assignee_locale)]
        return _staff(event_id, "assigned", assignee, "notify.staff.assigned", id=number,
                      due=event.sla_due_at)
    if event.status == "PENDINGFORREASSIGNMENT":
        return _staff(event_id, "returned", event.gros or [], "notify.staff.returned",
                      id=number, comment=event.comment or "-")
    return []


def _sla_warning(event_id: str, event: ComplaintSlaWarning) -> list[Notification]:
    msgid = ("notify.staff.sla_warning" if event.assignee_user_id
             else "notify.staff.sla_warning_unassigned")
    return _staff(event_id, "warning", event.recipients, msgid, id=event.complaint_id,
                  due=event.deadline)


def _escalated(event_id: str, event: ComplaintEscalated) -> list[Notification]:
    name = event.assignee_name
    msgid = "notify.staff.escalated_assigned" if name else "notify.staff.escalated"
    return _staff(event_id, "escalated", event.recipients, msgid, id=event.complaint_id,
                  due=event.deadline, assignee=name or "")


# The handler of each notified event type; it gets the payload read through the contract.
HANDLERS: dict[str, Callable[[str, Any], list[Notification]]] = {
    "complaint.status_changed": _complaint_status_changed,
    "complaint.sla_warning": _sla_warning,
    "complaint.escalated": _escalated,
    "payment.completed": _payment_completed,
    "certificate.status_changed": _certificate_status_changed,
    "certificate.issued": _certificate_issued,
}


class Notifier:
    """Reads domain events and delivers the notifications they cause, once each."""

    def __init__(self, redis: Redis, sessions: SessionStore, sink: OutboundSink,
                 consumer: str | None = None,
                 opted_out: Callable[[str], Awaitable[bool]] | None = None) -> None:
        self.redis = redis
        self.sessions = sessions
        self.sink = sink
        self.opted_out = opted_out  # people who sent STOP get nothing more
        self.consumer = consumer or f"{socket.gethostname()}-{id(self)}"
        self._group_ready = False

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self.redis.xgroup_create(EVENTS_STREAM, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def channel_for(self, phone: str) -> str:
        """WhatsApp when the person has a WhatsApp conversation with us, else SMS."""
        key = self.sessions.keys(conversation_key("whatsapp", phone)).session
        return "whatsapp" if await self.redis.exists(key) else "sms"

    async def handle(self, fields: dict[bytes, bytes]) -> int:
        """Deliver one event's notifications; return how many were delivered."""
        event_id = fields[b"event_id"].decode()
        topic = fields[b"topic"].decode()
        payload = orjson.loads(fields[b"payload"])
        try:
            notifications = notifications_for(event_id, topic, payload)
        except EventContractError as exc:
            # Retrying cannot mend the payload: say so loudly and let it be acknowledged.
            log.error("notification_event_invalid", topic=topic, event_id=event_id,
                      error=str(exc))
            return 0
        delivered = 0
        for notification in notifications:
            marker = f"samvad:notified:{event_id}:{notification.phone}"
            if not await self.redis.set(marker, 1, nx=True, ex=DEDUPE_TTL_S):
                continue  # delivered before (the relay publishes at least once)
            if self.opted_out is not None and await self.opted_out(notification.phone):
                log.info("notification_skipped_opted_out", kind=notification.kind)
                continue
            try:
                await self.sink.deliver(await self.channel_for(notification.phone), notification)
            except Exception:
                await self.redis.delete(marker)  # let the retry deliver it
                raise
            delivered += 1
        return delivered

    async def consume_once(self, block_ms: int | None = None, count: int = 100) -> int:
        """Read new and stale pending events once; return notifications delivered."""
        try:
            return await self._consume(block_ms, count)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # Redis lost the stream and its group (restarted without persistence): make
            # them again, or every later read fails the same way until a restart.
            self._group_ready = False
            return await self._consume(block_ms, count)

    async def _consume(self, block_ms: int | None, count: int) -> int:
        await self._ensure_group()
        delivered = 0
        # Events another consumer took but never acknowledged (it died) come back here.
        _next, claimed, *_ = await self.redis.xautoclaim(
            EVENTS_STREAM, GROUP, self.consumer, min_idle_time=60_000, start_id="0-0",
            count=count)
        batches = [(EVENTS_STREAM, claimed)] if claimed else []
        fresh = await self.redis.xreadgroup(GROUP, self.consumer, {EVENTS_STREAM: ">"},
                                            count=count, block=block_ms)
        batches.extend(fresh or [])
        for _stream, messages in batches:
            for message_id, fields in messages:
                if not fields:
                    continue
                try:
                    delivered += await self.handle(fields)
                except Exception:
                    log.exception("notification_failed")
                    continue  # not acknowledged: retried after the idle time
                await self.redis.xack(EVENTS_STREAM, GROUP, message_id)
        return delivered


class SimulatorInbox:
    """Delivers to per-person lists the simulator page and tests read."""

    PREFIX = "samvad:sim:inbox:"

    def __init__(self, redis: Redis, limit: int = 50) -> None:
        self.redis = redis
        self.limit = limit

    def key(self, channel: str, phone: str) -> str:
        return f"{self.PREFIX}{channel}:{phone}"

    async def deliver(self, channel: str, notification: Notification) -> None:
        message = notification.message
        record = {
            "text": message.text,
            "media": [{"url": m.url, "content_type": m.content_type, "filename": m.filename}
                      for m in message.media],
            "kind": notification.kind,
        }
        key = self.key(channel, notification.phone)
        pipe = self.redis.pipeline(transaction=True)
        pipe.rpush(key, orjson.dumps(record))
        pipe.ltrim(key, -self.limit, -1)
        pipe.expire(key, 7 * 24 * 3600)
        await pipe.execute()

    async def take(self, channel: str, phone: str) -> list[Outgoing]:
        """Everything waiting for this person, oldest first (and forget it)."""
        key = self.key(channel, phone)
        pipe = self.redis.pipeline(transaction=True)
        pipe.lrange(key, 0, -1)
        pipe.delete(key)
        raw, _ = await pipe.execute()
        result = []
        for item in raw:
            data = orjson.loads(item)
            result.append(Outgoing(data.get("text", ""), media=tuple(
                Media(m["url"], m["content_type"], m.get("filename"))
                for m in data.get("media") or ())))
        return result
