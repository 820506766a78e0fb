"""One citizen's data: export everything held about them, or erase it (``samvad citizen``).

Export gathers the user row, their complaints (with photos and workflow history), bills
linked to them, payment intents, payments and receipts, certificate requests (with
history), the metadata of channel messages sent to them, and their Redis keys (the
conversation session, mailboxes, inbox).

Redis keys belong to the layer that writes them: core_api names its own (the bill-lookup
counter) and knows no other layer's. The caller passes one ``Forgetter`` per other layer
(``samvad.privacy.forgetters``: the bot's conversations and notification markers, the
channels' mailboxes, contact windows and job markers); each names, and on erasure deletes,
the keys its own code writes about the number.

Erase keeps the city's records true while removing the person:

- the user row stays as a tombstone (so complaint counts, workflow histories and foreign
  keys hold): phone, name and locale are cleared, ``active`` is false, ``opted_out`` true;
  the number is then free, and the person starts again as new if they write;
- complaints keep type, status, locality, SLA, rating and history; their free text
  (description, feedback, address), the exact pin and the citizen's own comments in the
  workflow history are redacted; photos are deleted (rows and files);
- certificate requests keep number, registration, fee and status; applicant name and phone
  are cleared (the birth/death register itself is a civil record and is not touched);
- payments, receipts and payment intents are legal financial records: amounts, numbers and
  the name printed on the receipt are retained, but they are unlinked from the person
  (user id and phone cleared); bills are unlinked the same way;
- channel message records lose the recipient number (statuses and counts stay);
- outbox events and payment callback payloads have the phone and name scrubbed;
- every Redis key naming the number (session, locks, mailboxes, inbox, markers) is deleted,
  by the layer that wrote it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import Text, cast, inspect, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core_api.bills.endpoints import lookup_throttle_key
from core_api.bills.models import Bill
from core_api.certificates.models import CertificateRequest
from core_api.complaints.models import Complaint, ComplaintPhoto
from core_api.errors import BadRequest, NotFound
from core_api.events.models import OutboxEvent
from core_api.messaging.models import ChannelMessage
from core_api.payments.models import Payment, PaymentCallback, PaymentIntent, Receipt
from core_api.phones import normalize_phone
from core_api.users.models import User, UserKind
from core_api.workflow.models import ProcessHistory, ProcessInstance

REDACTED = "[erased]"
_SKIP_COLUMNS = {"password_hash"}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def row(obj: Any) -> dict[str, Any]:
    """A mapped row as JSON-ready column values."""
    return {attr.key: _plain(getattr(obj, attr.key))
            for attr in inspect(obj).mapper.column_attrs if attr.key not in _SKIP_COLUMNS}


async def find_citizen(session: AsyncSession, phone: str) -> User:
    """The citizen with this number; NotFound / BadRequest for unknown numbers or staff."""
    e164 = normalize_phone(phone)
    user = await session.scalar(select(User).where(User.phone == e164))
    if user is None:
        raise NotFound("No citizen with this number.", code="no_such_citizen")
    if user.kind != UserKind.CITIZEN:
        raise BadRequest("This number belongs to an employee, not a citizen.",
                         code="not_a_citizen")
    return user


async def _history(session: AsyncSession, business_ids: list[str]) -> dict[str, list[Any]]:
    if not business_ids:
        return {}
    processes = list(await session.scalars(
        select(ProcessInstance).where(ProcessInstance.business_id.in_(business_ids))))
    out: dict[str, list[Any]] = {}
    for process in processes:
        entries = await session.scalars(select(ProcessHistory).where(
            ProcessHistory.process_id == process.id).order_by(ProcessHistory.id))
        out.setdefault(process.business_id, []).extend(entries)
    return out


@dataclass
class Holdings:
    """The rows held about one citizen."""

    user: User
    complaints: list[Complaint] = field(default_factory=list)
    photos: list[ComplaintPhoto] = field(default_factory=list)
    bills: list[Bill] = field(default_factory=list)
    intents: list[PaymentIntent] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)
    certificate_requests: list[CertificateRequest] = field(default_factory=list)
    messages: list[ChannelMessage] = field(default_factory=list)
    history: dict[str, list[ProcessHistory]] = field(default_factory=dict)


async def gather(session: AsyncSession, user: User) -> Holdings:
    """Every row linked to ``user`` by id or by phone number."""
    uid, phone = user.id, user.phone
    held = Holdings(user)
    held.complaints = list(await session.scalars(
        select(Complaint).where(Complaint.citizen_user_id == uid).order_by(Complaint.id)))
    if held.complaints:
        held.photos = list(await session.scalars(select(ComplaintPhoto).where(
            ComplaintPhoto.complaint_id.in_([c.id for c in held.complaints]))
            .order_by(ComplaintPhoto.id)))

    def mine(model: Any, user_column: Any, phone_column: Any) -> Any:
        clauses = [user_column == uid]
        if phone:
            clauses.append(phone_column == phone)
        return select(model).where(or_(*clauses)).order_by(model.id)

    held.bills = list(await session.scalars(mine(Bill, Bill.owner_user_id, Bill.owner_phone)))
    held.intents = list(await session.scalars(
        mine(PaymentIntent, PaymentIntent.payer_user_id, PaymentIntent.payer_phone)))
    held.payments = list(await session.scalars(
        mine(Payment, Payment.payer_user_id, Payment.payer_phone)))
    held.receipts = list(await session.scalars(
        mine(Receipt, Receipt.payer_user_id, Receipt.payer_phone)))
    held.certificate_requests = list(await session.scalars(
        mine(CertificateRequest, CertificateRequest.owner_user_id,
             CertificateRequest.applicant_phone)))
    if phone:
        held.messages = list(await session.scalars(
            select(ChannelMessage).where(ChannelMessage.to == phone).order_by(ChannelMessage.id)))
    held.history = await _history(session, [c.complaint_no for c in held.complaints]
                                  + [r.request_number for r in held.certificate_requests])
    return held


class Forgetter(Protocol):
    """Another layer's data about a phone number in Redis (the bot's, the channels'),
    handed in by the composition root: it names the keys it holds, for an export, and
    deletes them, for an erasure."""

    async def keys(self, phone: str) -> list[str]:
        """The keys held now about ``phone``."""
        ...

    async def forget(self, phone: str) -> int:
        """Delete every key held about ``phone``; how many there were."""
        ...


def _own_keys(phone: str) -> list[str]:
    """core_api's own Redis keys that name a citizen's number."""
    return [lookup_throttle_key(phone)]


async def _redis_keys(redis: Any, forgetters: Sequence[Forgetter], phone: str) -> list[str]:
    keys = {key for key in _own_keys(phone) if await redis.exists(key)}
    for forgetter in forgetters:
        keys.update(await forgetter.keys(phone))
    return sorted(keys)


async def _redis_value(redis: Any, key: str) -> Any:
    kind = await redis.type(key)
    kind = kind.decode() if isinstance(kind, bytes) else kind
    if kind == "string":
        value = await redis.get(key)
    elif kind == "list":
        value = await redis.lrange(key, 0, -1)
    elif kind == "hash":
        value = await redis.hgetall(key)
    else:
        return {"type": kind}

    def text(item: Any) -> Any:
        if isinstance(item, bytes):
            return item.decode("utf-8", "replace")
        if isinstance(item, list):
            return [text(i) for i in item]
        if isinstance(item, dict):
            return {text(k): text(v) for k, v in item.items()}
        return item

    return text(value)


async def export_citizen(session: AsyncSession, phone: str, redis: Any = None,
                         forgetters: Sequence[Forgetter] = ()) -> dict[str, Any]:
    """Everything held about the citizen with ``phone``, as JSON-ready data (the Redis
    keys: core_api's and those the ``forgetters`` name, read from ``redis``)."""
    user = await find_citizen(session, phone)
    held = await gather(session, user)
    photos: dict[int, list[dict[str, Any]]] = {}
    for photo in held.photos:
        photos.setdefault(photo.complaint_id, []).append(row(photo))

    def with_history(business_id: str) -> list[dict[str, Any]]:
        return [row(h) for h in held.history.get(business_id, [])]

    data: dict[str, Any] = {
        "user": row(user),
        "complaints": [{**row(c), "photos": photos.get(c.id, []),
                        "history": with_history(c.complaint_no)} for c in held.complaints],
        "bills": [row(b) for b in held.bills],
        "payment_intents": [row(i) for i in held.intents],
        "payments": [row(p) for p in held.payments],
        "receipts": [row(r) for r in held.receipts],
        "certificate_requests": [{**row(r), "history": with_history(r.request_number)}
                                 for r in held.certificate_requests],
        "channel_messages": [row(m) for m in held.messages],
        "redis": {},
    }
    if redis is not None and user.phone:
        data["redis"] = {key: await _redis_value(redis, key)
                         for key in await _redis_keys(redis, forgetters, user.phone)}
    return data


@dataclass
class Erasure:
    """What an erase changed (counts), printed by the CLI."""

    user_id: int
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, what: str, n: int) -> None:
        if n:
            self.counts[what] = self.counts.get(what, 0) + n


def _scrub(value: Any, secrets: tuple[str, ...], texts: set[str]) -> tuple[Any, int]:
    """``value`` with every string mentioning a secret, or equal to a text, replaced."""
    if isinstance(value, str):
        hit = value in texts or any(s in value for s in secrets)
        return (REDACTED, 1) if hit else (value, 0)
    if isinstance(value, list):
        items = [_scrub(v, secrets, texts) for v in value]
        return [v for v, _ in items], sum(n for _, n in items)
    if isinstance(value, dict):
        pairs = {k: _scrub(v, secrets, texts) for k, v in value.items()}
        return {k: v for k, (v, _) in pairs.items()}, sum(n for _, n in pairs.values())
    return value, 0


async def _scrub_payloads(session: AsyncSession, held: Holdings, report: Erasure,
                          secrets: tuple[str, ...], texts: set[str]) -> None:
    """Events and gateway callbacks that name the person or carry their words."""
    digits = (held.user.phone or "").lstrip("+")
    ids = [c.complaint_no for c in held.complaints] + [
        r.request_number for r in held.certificate_requests]
    mentions = [cast(OutboxEvent.payload, Text).contains(digits)] if digits else []
    events = select(OutboxEvent).where(or_(OutboxEvent.aggregate_id.in_(ids), *mentions))
    callback_mentions = [cast(PaymentCallback.payload, Text).contains(digits)] if digits else []
    callbacks = select(PaymentCallback).where(or_(
        PaymentCallback.payment_id.in_([p.id for p in held.payments]),
        PaymentCallback.intent_reference.in_([i.reference for i in held.intents]),
        *callback_mentions))
    for query in (events, callbacks):
        for record in await session.scalars(query):
            scrubbed, n = _scrub(record.payload, secrets, texts)
            if n:
                record.payload = scrubbed
                report.add(f"{record.__tablename__} scrubbed", 1)


async def erase_citizen(session: AsyncSession, phone: str, *, files: Any = None,
                        redis: Any = None, forgetters: Sequence[Forgetter] = ()) -> Erasure:
    """Remove the citizen's personal data (see the module docstring): core_api's keys on
    ``redis``, and every one of the ``forgetters`` forgets the number. The caller commits."""
    user = await find_citizen(session, phone)
    held = await gather(session, user)
    uid, number, name = user.id, user.phone or "", user.name or ""
    report = Erasure(uid)
    # The person's own words, wherever a copy of them travelled (event payloads).
    texts = {t for c in held.complaints for t in (c.description, c.feedback, c.address) if t}
    texts |= {h.comment for entries in held.history.values() for h in entries
              if h.actor_user_id == uid and h.comment}
    secrets = tuple(s for s in (number, number.lstrip("+"), name) if len(s) >= 3)

    deleted_keys = {p.file_key for p in held.photos}
    for photo in held.photos:
        if files is not None:
            await files.delete(photo.file_key)
        await session.delete(photo)
    report.add("photos deleted", len(held.photos))

    for complaint in held.complaints:
        complaint.description = REDACTED if complaint.description else None
        complaint.feedback = REDACTED if complaint.feedback else None
        complaint.address = None
        complaint.lat = complaint.lng = None  # the locality stays: the pin may be a home
    report.add("complaints redacted", len(held.complaints))

    for entries in held.history.values():
        for entry in entries:
            documents = [d for d in entry.documents or [] if d not in deleted_keys]
            if documents != list(entry.documents or []):
                entry.documents = documents
            if entry.actor_user_id == uid and entry.comment:
                entry.comment = REDACTED
                report.add("own comments redacted", 1)

    for request in held.certificate_requests:
        request.applicant_name = None
        request.applicant_phone = None
    report.add("certificate requests redacted", len(held.certificate_requests))

    for bill in held.bills:
        bill.owner_user_id = None
        if bill.owner_phone == number:
            bill.owner_phone = None
    report.add("bills unlinked", len(held.bills))
    records: list[PaymentIntent | Payment | Receipt] = [*held.intents, *held.payments,
                                                        *held.receipts]
    for record in records:
        record.payer_user_id = None
        record.payer_phone = None
    report.add("payment records unlinked",
               len(held.intents) + len(held.payments) + len(held.receipts))

    for message in held.messages:
        message.to = None
    report.add("message records unlinked", len(held.messages))

    await _scrub_payloads(session, held, report, secrets, texts)

    user.phone = None
    user.name = None
    user.locale = None
    user.opted_out = True
    user.active = False
    await session.flush()

    if number:
        deleted = 0
        if redis is not None:
            deleted += await redis.delete(*_own_keys(number))
        for forgetter in forgetters:
            deleted += await forgetter.forget(number)
        report.add("redis keys deleted", deleted)
    return report
