"""Notifications: domain events become messages to citizens, in their language.

``notifications_for`` is pure (event in, messages out); it reads each payload through
the event contract (``core_api.events.contract``: a plain pydantic module that imports
nothing of core_api's models; its docstring says why the bot may import it).
``Notifier`` consumes the events stream with a Redis consumer group and passes each
notification through ``Notifier._deliver``: dropped when delivered before (event id and
person), dropped for opted-out people, routed by the delivery policy
(``channels.queues.DeliveryPolicy``: the case's channel, else the person's last active one,
else SMS) and handed to an ``OutboundSink``. ``NOTIFICATION_KINDS`` lists every kind and
its messages (``samvad flows check`` holds templates and catalogs against it).
"""

from __future__ import annotations

import mimetypes
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, cast

import orjson
import structlog
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from bot.followup import ANSWERS, BROKEN, FIXED
from bot.i18n import SOURCE_LOCALE, format_amount, format_moment, has_message, translate
from bot.messages import Media, Option, Outgoing
from bot.session_store import SessionStore
from core_api.events.contract import (
    EVENTS_STREAM,
    CertificateIssued,
    CertificateStatusChanged,
    ComplaintCreated,
    ComplaintEscalated,
    ComplaintRecategorised,
    ComplaintSlaWarning,
    ComplaintStatusChanged,
    EventContractError,
    PaymentCompleted,
    Person,
    read,
)

if TYPE_CHECKING:
    from bot.digest import GroDigest
    from bot.followup import CaseFollowUps

log = structlog.get_logger(__name__)

GROUP = "notifier"
DEDUPE_TTL_S = 7 * 24 * 3600
NOTIFIED_PREFIX = "samvad:notified:"  # + "<event id>:<phone>": delivered once per person

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
# Steps the citizen takes themselves (filing, reopening, rating): they are not told again.
CITIZEN_ACTIONS = frozenset({"APPLY", "REOPEN", "RATE"})
# Closed by the auto-close sweep: the citizen never answered "is it fixed?".
AUTO_CLOSED_MESSAGE = "notify.complaint.auto_closed"
CERTIFICATE_MESSAGES = {
    "PENDINGAPPROVAL": "notify.certificate.pending_approval",
    "REJECTED": "notify.certificate.rejected",
}


@dataclass(frozen=True)
class Route:
    """Where the delivery policy sends a notification, and the rule that chose it
    ("case_channel", "last_active", "default_sms"; "sms_fallback" for the fallback)."""

    channel: str  # a kind registered in ``bot.channel_kinds``
    rule: str
    provider: str | None = None  # the provider the person last used there; None: configured
    sender: str | None = None  # our number they last wrote to there; None: the default


@dataclass(frozen=True)
class Notification:
    """One message for one person, with the kind a provider template would use.

    ``case_channel`` is the channel the case began on (the event's v2 ``channel``): the
    delivery policy answers there. ``details`` names the case page an SMS links to instead
    of media or long text, as (kind, ref) for ``bot.links.ShortLinks.shorten``: ("receipt",
    receipt number), ("certificate", request number), ("complaint", complaint number).
    ``route`` is set by ``Notifier`` when it hands the notification to the sink."""

    phone: str
    locale: str | None
    kind: str
    message: Outgoing
    event_id: str
    case_channel: str | None = None
    details: tuple[str, str] | None = None
    route: Route | None = None


class OutboundSink(Protocol):
    async def deliver(self, channel: str, notification: Notification) -> None: ...


class DeliveryRouter(Protocol):
    """The delivery policy (``channels.queues.DeliveryPolicy``): the channel, provider and
    sender number of one notification."""

    async def route(self, notification: Notification) -> Route: ...


# Event types published that nobody is told about (every other type has a handler).
NOT_NOTIFIED = frozenset({
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
    if event.action in CITIZEN_ACTIONS:
        return []  # the citizen's own step: the chat (or counter) told them already
    locale = event.citizen_locale
    if event.action == "AUTOCLOSE":
        msgid = AUTO_CLOSED_MESSAGE
    text = translate(locale, msgid, id=event.complaint_id, comment=event.comment or "")
    message = Outgoing(text)
    if event.status == "RESOLVED":
        message = _resolved(text, locale, event.photo_urls or [])
    return [Notification(phone, locale, "complaint_update", message, event_id,
                         case_channel=event.channel, details=("complaint", event.complaint_id))]


def _resolved(text: str, locale: str | None, photos: list[str]) -> Outgoing:
    """"Resolved", with the LME's photos, asking whether it is fixed: the answer continues
    the case (``bot.followup``; the notifier records the question when it is sent)."""
    question = translate(locale, "notify.complaint.fixed_question")
    options = (Option(FIXED, translate(locale, "notify.complaint.opt_fixed")),
               Option(BROKEN, translate(locale, "notify.complaint.opt_broken")))
    media = tuple(Media(url, _image_type(url)) for url in photos)
    return Outgoing(f"{text}\n{question}", options=options, media=media)


def _image_type(url: str) -> str:
    """The type of a photo link by its name (signed links keep it), JPEG when it has none."""
    guessed, _ = mimetypes.guess_type(url.split("?", 1)[0])
    return guessed if guessed and guessed.startswith("image/") else "image/jpeg"


def asks_fixed(notification: Notification) -> str | None:
    """The complaint a notification asks "is it fixed?" about, or None."""
    details = notification.details
    if details and details[0] == "complaint" and any(
            option.id in ANSWERS for option in notification.message.options):
        return details[1]
    return None


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
                         event_id, case_channel=event.channel,
                         details=("receipt", event.receipt_number))]


def _certificate_issued(event_id: str, event: CertificateIssued) -> list[Notification]:
    phone = event.citizen_phone
    if not phone:
        return []
    locale = event.citizen_locale
    text = translate(locale, "notify.certificate.issued", number=event.request_number)
    media = (Media(event.download_url, "application/pdf", "certificate.pdf"),)
    return [Notification(phone, locale, "certificate_issued", Outgoing(text, media=media),
                         event_id, case_channel=event.channel,
                         details=("certificate", event.request_number))]


def _certificate_status_changed(event_id: str, event: CertificateStatusChanged
                                ) -> list[Notification]:
    return [*_citizen_certificate_update(event_id, event),
            *_approvers(event_id, event)]


def _approvers(event_id: str, event: CertificateStatusChanged) -> list[Notification]:
    """A paid request waits for approval: its city's registrars hear of it."""
    if event.status != "PENDINGAPPROVAL":
        return []
    return _staff(event_id, "approval", event.approvers or [], "notify.staff.approval_needed",
                  number=event.request_number, certificate=event.kind)


def _citizen_certificate_update(event_id: str, event: CertificateStatusChanged
                                ) -> list[Notification]:
    msgid = CERTIFICATE_MESSAGES.get(event.status)
    phone = event.citizen_phone
    if not msgid or not phone:
        return []
    locale = event.citizen_locale
    text = translate(locale, msgid, number=event.request_number, comment=event.comment or "")
    return [Notification(phone, locale, "certificate_update", Outgoing(text), event_id,
                         case_channel=event.channel,
                         details=("certificate", event.request_number))]


# A GRO's new complaint: held for a digest when several come close together (bot.digest).
NEW_COMPLAINT = "new_complaint"

# Staff notifications: the template kind of each (the 24-hour window picks a template by it).
STAFF_KINDS = {"assigned": "task_assigned", "returned": "task_returned",
               "reopened": "task_returned",
               "warning": "sla_warning", "escalated": "escalation",
               "new": NEW_COMPLAINT, "rerouted": "complaint_rerouted",
               "approval": "approval_needed"}


def _staff(event_id: str, kind: str, people: list[Person], msgid: str | tuple[str, ...],
           details: tuple[str, str] | None = None, **params: Any) -> list[Notification]:
    """One message per person, each in that person's language (several ``msgid`` are
    joined into one message, and ``params`` are written the person's way: ``_localized``)."""
    found: list[Notification] = []
    for person in people:
        phone, locale = person.phone, person.locale
        if not phone or any(n.phone == phone for n in found):
            continue
        values = _localized(params, locale)
        ids = (msgid,) if isinstance(msgid, str) else msgid
        text = " ".join(translate(locale, one, **values) for one in ids)
        found.append(Notification(phone, locale, STAFF_KINDS[kind], Outgoing(text), event_id,
                                  details=details))
    return found


def _localized(params: dict[str, Any], locale: str | None) -> dict[str, Any]:
    """Params as the person's locale writes them: names given by language (a complaint
    type, a locality), a ``due`` moment (ISO), a ``certificate`` kind (birth, death), an
    escalation level's ``role`` (its name in escalation.yaml)."""
    values = {name: _in_language(value, locale) if isinstance(value, dict) else value
              for name, value in params.items()}
    if values.get("due"):
        values["due"] = format_moment(values["due"], locale)
    if values.get("certificate"):
        values["certificate"] = translate(
            locale, f"certificate_request.kind.{values['certificate']}")
    role = values.get("role")
    if role and has_message(f"notify.staff.level.{role}", SOURCE_LOCALE):
        values["role"] = translate(locale, f"notify.staff.level.{role}")
    return values


def _in_language(names: dict[str, str], locale: str | None) -> str:
    """A name given in several languages ({"en": ..., "hi": ...}), in the person's."""
    language = (locale or SOURCE_LOCALE).split("_")[0]
    return names.get(language) or names.get("en") or next(iter(names.values()), "-")


def _type_words(code: str) -> str:
    """A complaint type code in words ("StreetLightNotWorking" -> "Street light not
    working"): events carry the code, and staff know the catalogue by these words."""
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", code) or [code]
    return " ".join([words[0], *(w.lower() if not w.isupper() else w for w in words[1:])])


def _complaint_created(event_id: str, event: ComplaintCreated) -> list[Notification]:
    """A new complaint: the GROs of its city and department, to assign it (a GRO's many
    new complaints of a few minutes are merged into one digest: ``bot.digest``)."""
    return _staff(event_id, "new", event.gros or [], "notify.staff.new_complaint",
                  details=("complaint", event.complaint_id), id=event.complaint_id,
                  type=event.type_names or _type_words(event.type_code),
                  place=event.locality_names or event.locality or "-",
                  due=event.sla_due_at or "")


def _recategorised(event_id: str, event: ComplaintRecategorised) -> list[Notification]:
    """A GRO moved a complaint to another type: the new department's GROs must act."""
    return _staff(event_id, "rerouted", event.gros, "notify.staff.rerouted",
                  details=("complaint", event.complaint_id), id=event.complaint_id,
                  old=event.from_type_names or _type_words(event.from_type_code),
                  new=event.type_names or _type_words(event.type_code),
                  place=event.locality_names or event.locality or "-")


def staff_notifications(event_id: str, topic: str,
                        payload: dict[str, Any]) -> list[Notification]:
    """What employees hear: a complaint assigned to them (ASSIGN, or REASSIGN by the GRO),
    one sent back for reassignment (its GROs, from ``gros``), and the SLA timer's warning
    and escalation (``recipients``, filled in by the core API's SLA sweep)."""
    if topic == "complaint.status_changed":
        return _staff_for_status(event_id, cast(ComplaintStatusChanged, read(topic, payload)))
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
    if event.action == "REOPEN":
        return _staff(event_id, "reopened", event.gros or [], "notify.staff.reopened",
                      id=number, comment=event.comment or "-")
    return []


def _sla_warning(event_id: str, event: ComplaintSlaWarning) -> list[Notification]:
    msgid = ("notify.staff.sla_warning" if event.assignee_user_id
             else "notify.staff.sla_warning_unassigned")
    return _staff(event_id, "warning", event.recipients, msgid, id=event.complaint_id,
                  due=event.deadline)


def _escalated(event_id: str, event: ComplaintEscalated) -> list[Notification]:
    """The level the complaint reached (and its name, e.g. the executive officer), said
    as a reminder when the level is told again (``repeat``)."""
    name = event.assignee_name
    if event.repeat:
        level = ("notify.staff.escalation_reminder_named" if event.level_name
                 else "notify.staff.escalation_reminder")
    else:
        level = ("notify.staff.escalation_level_named" if event.level_name
                 else "notify.staff.escalation_level")
    body = "notify.staff.escalated_assigned" if name else "notify.staff.escalated"
    return _staff(event_id, "escalated", event.recipients, (body, level),
                  id=event.complaint_id, due=event.deadline, assignee=name or "",
                  level=event.level, role=event.level_name or "", repeat=event.repeat)


# The handler of each notified event type; it gets the payload read through the contract.
HANDLERS: dict[str, Callable[[str, Any], list[Notification]]] = {
    "complaint.status_changed": _complaint_status_changed,
    "complaint.sla_warning": _sla_warning,
    "complaint.escalated": _escalated,
    "complaint.created": _complaint_created,
    "complaint.recategorised": _recategorised,
    "payment.completed": _payment_completed,
    "certificate.status_changed": _certificate_status_changed,
    "certificate.issued": _certificate_issued,
}


# Every notification kind and the message ids it may carry: the one list that
# ``samvad flows check`` holds against the WhatsApp template mapping
# (channels/templates.yaml) and the catalogs. A new kind is added here.
NOTIFICATION_KINDS: dict[str, tuple[str, ...]] = {
    "complaint_update": (*dict.fromkeys(COMPLAINT_MESSAGES.values()), AUTO_CLOSED_MESSAGE,
                         "notify.complaint.fixed_question", "notify.complaint.opt_fixed",
                         "notify.complaint.opt_broken"),
    "payment_receipt": ("notify.payment.completed",),
    "certificate_update": tuple(CERTIFICATE_MESSAGES.values()),
    "certificate_issued": ("notify.certificate.issued",),
    "task_assigned": ("notify.staff.assigned",),
    "task_returned": ("notify.staff.returned", "notify.staff.reopened"),
    "sla_warning": ("notify.staff.sla_warning", "notify.staff.sla_warning_unassigned"),
    "escalation": ("notify.staff.escalated", "notify.staff.escalated_assigned",
                   "notify.staff.escalation_level", "notify.staff.escalation_level_named",
                   "notify.staff.escalation_reminder",
                   "notify.staff.escalation_reminder_named"),
    NEW_COMPLAINT: ("notify.staff.new_complaint", "notify.staff.new_complaints"),
    "complaint_rerouted": ("notify.staff.rerouted",),
    "approval_needed": ("notify.staff.approval_needed",),
}


class Notifier:
    """Reads domain events and delivers the notifications they cause, once each."""

    def __init__(self, redis: Redis, sessions: SessionStore, sink: OutboundSink, *,
                 router: DeliveryRouter, consumer: str | None = None,
                 opted_out: Callable[[str], Awaitable[bool]] | None = None,
                 digest: GroDigest | None = None,
                 follow_ups: CaseFollowUps | None = None) -> None:
        """``router`` is the channels' delivery policy, passed in (the bot imports no
        channel): ``samvad.worker.build_notifier`` gives the configured providers' one,
        tests ``channels.queues.simulator_delivery``."""
        self.redis = redis
        self.sessions = sessions
        self.sink = sink
        self.opted_out = opted_out  # people who sent STOP get nothing more
        self.router = router
        self.digest = digest  # GROs' new complaints, batched (None: each sent at once)
        self.follow_ups = follow_ups  # "is it fixed?" questions waiting for the answer
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
        await self._question_answered_elsewhere(topic, payload)
        delivered = 0
        for notification in notifications:
            delivered += await self._deliver(notification)
        return delivered

    async def _question_answered_elsewhere(self, topic: str, payload: dict[str, Any]) -> None:
        """A complaint that left RESOLVED another way (closed for want of an answer, rated
        at a counter) no longer waits for "is it fixed?": a later "1" is not that answer."""
        if (self.follow_ups is None or topic != "complaint.status_changed"
                or payload.get("previous_status") != "RESOLVED"):
            return
        phone, complaint = payload.get("citizen_phone"), payload.get("complaint_id")
        if phone and complaint:
            await self.follow_ups.settle(phone, complaint)

    async def _deliver(self, notification: Notification) -> bool:
        """Every notification passes here: once only (a marker per event and person), never
        to an opted-out person, routed by the delivery policy, handed to the sink. True
        when it was handed over.

        The marker is written after the hand-over, so a notifier killed in between leaves
        the event unmarked and its redelivery hands it over again: under the same job id
        (``n:<event>:<phone>``), which the send worker sends once, and held for a digest
        under the same event id, which the digest counts once.
        """
        marker = f"{NOTIFIED_PREFIX}{notification.event_id}:{notification.phone}"
        if await self.redis.exists(marker):
            return False  # delivered before (the relay publishes at least once)
        if self.opted_out is not None and await self.opted_out(notification.phone):
            log.info("notification_skipped_opted_out", kind=notification.kind)
            return False
        if self.digest is not None and notification.kind == NEW_COMPLAINT:
            await self.digest.hold(notification)  # sent by _flush_digests
            await self.redis.set(marker, 1, ex=DEDUPE_TTL_S)
            return False
        route = await self.router.route(notification)
        await self.sink.deliver(route.channel, replace(notification, route=route))
        await self.redis.set(marker, 1, ex=DEDUPE_TTL_S)
        complaint = asks_fixed(notification)
        if complaint and self.follow_ups is not None:
            await self.follow_ups.offer(notification.phone, complaint, notification.locale)
        return True

    async def _flush_digests(self) -> int:
        """Send the GROs' digests whose window has closed (each taken by one notifier only;
        they passed the once-only and opt-out checks when held). One that cannot be handed
        over stays held and is tried again when its lease ends (``GroDigest.due``)."""
        if self.digest is None:
            return 0
        sent = 0
        for notification in await self.digest.due():
            try:
                route = await self.router.route(notification)
                await self.sink.deliver(route.channel, replace(notification, route=route))
            except Exception:
                # Still held: taken again when its lease ends (``GroDigest.due``).
                log.exception("notification_digest_failed", kind=notification.kind)
                continue
            await self.digest.settle(notification)
            sent += 1
        return sent

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
        batches: list[tuple[bytes | str, Any]] = [(EVENTS_STREAM, claimed)] if claimed else []
        # RESP2's [(stream, [(id, fields), ...])]; redis-py's type also allows RESP3 maps.
        fresh = cast("list[tuple[bytes, Any]] | None", await self.redis.xreadgroup(
            GROUP, self.consumer, {EVENTS_STREAM: ">"}, count=count, block=block_ms))
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
        return delivered + await self._flush_digests()


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
