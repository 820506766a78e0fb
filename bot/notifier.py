"""Notifications: domain events become messages to citizens, in their language.

``notifications_for`` is pure (event in, messages out). ``Notifier`` consumes the
events stream with a Redis consumer group, drops repeats by event id, picks the
channel the person last used (WhatsApp when they have a WhatsApp conversation, else
SMS) and hands each message to an ``OutboundSink``. Opted-out people get nothing.
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


def notifications_for(event_id: str, topic: str, payload: dict[str, Any]) -> list[Notification]:
    """The messages an event causes (none for events nobody needs to hear about): to the
    citizen concerned, and to the employees who must act (``staff_notifications``)."""
    return [*_citizen_notifications(event_id, topic, payload),
            *staff_notifications(event_id, topic, payload)]


def _citizen_notifications(event_id: str, topic: str,
                           payload: dict[str, Any]) -> list[Notification]:
    """What citizens hear: every status change of their complaint or request, payments."""
    if topic == "complaint.status_changed":
        msgid = COMPLAINT_MESSAGES.get(payload.get("status", ""))
        phone = payload.get("citizen_phone")
        if not msgid or not phone:
            return []
        if payload.get("status") == "PENDINGFORASSIGNMENT" and payload.get("action") == "APPLY":
            return []  # the citizen saw the number in the chat already
        locale = payload.get("citizen_locale")
        text = translate(locale, msgid, id=payload.get("complaint_id", ""),
                         comment=payload.get("comment") or "")
        if payload.get("status") == "RESOLVED":
            text += "\n" + translate(locale, "notify.complaint.rate_hint")
        return [Notification(phone, locale, "complaint_update", Outgoing(text), event_id)]
    if topic == "payment.completed":
        phone = payload.get("payer_phone")
        if not phone:
            return []
        locale = payload.get("payer_locale")
        text = translate(locale, "notify.payment.completed",
                         amount=format_amount(payload.get("amount", "0"), locale),
                         bill=payload.get("bill_number", ""),
                         receipt=payload.get("receipt_number", ""))
        link = payload.get("receipt_link")  # the signed PDF link (payments.service)
        media = (Media(link, "application/pdf", f"{payload.get('receipt_number', 'receipt')}.pdf"),
                 ) if link else ()
        return [Notification(phone, locale, "payment_receipt", Outgoing(text, media=media),
                             event_id)]
    if topic == "certificate.issued":
        phone = payload.get("citizen_phone")
        if not phone:
            return []
        locale = payload.get("citizen_locale")
        text = translate(locale, "notify.certificate.issued",
                         number=payload.get("request_number", ""))
        link = payload.get("download_url")
        media = (Media(link, "application/pdf", "certificate.pdf"),) if link else ()
        return [Notification(phone, locale, "certificate_issued", Outgoing(text, media=media),
                             event_id)]
    if topic == "certificate.status_changed":
        msgid = CERTIFICATE_MESSAGES.get(payload.get("status", ""))
        phone = payload.get("citizen_phone")
        if not msgid or not phone:
            return []
        locale = payload.get("citizen_locale")
        text = translate(locale, msgid, number=payload.get("request_number", ""),
                         comment=payload.get("comment") or "")
        return [Notification(phone, locale, "certificate_update", Outgoing(text), event_id)]
    return []


# Staff notifications: the template kind of each (the 24-hour window picks a template by it).
STAFF_KINDS = {"assigned": "task_assigned", "returned": "task_returned",
               "warning": "sla_warning", "escalated": "escalation"}


def _staff(event_id: str, kind: str, people: list[dict[str, Any]], msgid: str,
           **params: Any) -> list[Notification]:
    """One message per person (``{phone, locale}``), each in that person's language; a
    ``due`` param (ISO moment) is shown as the person's locale writes it."""
    found: list[Notification] = []
    for person in people:
        phone, locale = person.get("phone"), person.get("locale")
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
    number = payload.get("complaint_id", "")
    if topic == "complaint.status_changed":
        status = payload.get("status")
        if status == "PENDINGATLME" and payload.get("action") in ("ASSIGN", "REASSIGN"):
            assignee = [{"phone": payload.get("assignee_phone"),
                         "locale": payload.get("assignee_locale")}]
            return _staff(event_id, "assigned", assignee, "notify.staff.assigned", id=number,
                          due=payload.get("sla_due_at"))
        if status == "PENDINGFORREASSIGNMENT":
            return _staff(event_id, "returned", payload.get("gros") or [],
                          "notify.staff.returned", id=number,
                          comment=payload.get("comment") or "-")
        return []
    if topic == "complaint.sla_warning":
        msgid = ("notify.staff.sla_warning" if payload.get("assignee_user_id")
                 else "notify.staff.sla_warning_unassigned")
        return _staff(event_id, "warning", payload.get("recipients") or [], msgid, id=number,
                      due=payload.get("deadline"))
    if topic == "complaint.escalated":
        name = payload.get("assignee_name")
        msgid = "notify.staff.escalated_assigned" if name else "notify.staff.escalated"
        return _staff(event_id, "escalated", payload.get("recipients") or [], msgid,
                      id=number, due=payload.get("deadline"), assignee=name or "")
    return []


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
        delivered = 0
        for notification in notifications_for(event_id, topic, payload):
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
            result.append(Outgoing(data["text"], media=tuple(
                Media(m["url"], m["content_type"], m.get("filename")) for m in data["media"])))
        return result
