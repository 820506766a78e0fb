"""Recording outbound messages and their statuses; statuses only move up ``STATUS_RANK``.

Every status change is one conditional UPDATE (``CASE`` on the stored rank), so two
callbacks racing (``delivered`` and ``read``) cannot move a message backwards on either
database. Services flush; the request boundary commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from core_api.db import UTCDateTime, utcnow
from core_api.messaging.models import STATUS_RANK, ChannelMessage

# The column that keeps the first time a message reached a status.
STAMPS = {"sent": "sent_at", "delivered": "delivered_at", "read": "read_at",
          "failed": "failed_at"}


@dataclass(frozen=True)
class JobRecord:
    """What a send worker knows about one job after an attempt (or before the first)."""

    job_id: str
    provider: str
    channel: str
    to: str
    kind: str
    status: str
    provider_message_id: str | None = None
    error_code: str | None = None
    attempts: int = 0
    rule: str | None = None  # the delivery policy's rule (notifications)
    segments: int | None = None  # SMS segments
    cost: Decimal | None = None  # estimated, rupees


def _insert(session: AsyncSession) -> Any:
    """INSERT with ON CONFLICT DO NOTHING for the session's database."""
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _stamp(at: datetime) -> ColumnElement[Any]:
    return literal(at, type_=UTCDateTime())


async def _advance(session: AsyncSession, where: ColumnElement[bool], status: str, *,
                   at: datetime, error_code: str | None = None,
                   stamps: dict[str, datetime] | None = None, **columns: Any) -> int:
    """Raise the status of the matching rows to ``status`` unless they are further on."""
    rank = case(STATUS_RANK, value=ChannelMessage.status, else_=-1)
    values: dict[str, Any] = dict(columns)
    values["status"] = case((rank < STATUS_RANK[status], status), else_=ChannelMessage.status)
    first = dict(stamps or {})
    if status in STAMPS:
        first.setdefault(STAMPS[status], at)
    for column, moment in first.items():
        values[column] = func.coalesce(getattr(ChannelMessage, column), _stamp(moment))
    if error_code is not None:
        values["error_code"] = error_code
    result = await session.execute(
        update(ChannelMessage).where(where).values(**values)
        .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]  # an UPDATE/INSERT's result: a CursorResult


async def _reload(session: AsyncSession, where: ColumnElement[bool]) -> ChannelMessage | None:
    query = select(ChannelMessage).where(where).execution_options(populate_existing=True)
    return await session.scalar(query)


async def message_by_job(session: AsyncSession, job_id: str) -> ChannelMessage | None:
    """The record of one job."""
    return await _reload(session, ChannelMessage.job_id == job_id)


async def record_job(session: AsyncSession, rec: JobRecord) -> ChannelMessage:
    """Create or update the record of ``rec.job_id``; adopt a status that arrived first."""
    await apply_job(session, rec)
    saved = await message_by_job(session, rec.job_id)
    assert saved is not None
    return saved


async def record_jobs(session: AsyncSession, recs: list[JobRecord]) -> int:
    """``record_job`` for each of ``recs`` in order, in the caller's transaction: a send
    worker's records of many messages cost one request and one commit."""
    for rec in recs:
        await apply_job(session, rec)
    return len(recs)


async def apply_job(session: AsyncSession, rec: JobRecord) -> None:
    """The writes of ``record_job`` without reading the result back."""
    row = await message_by_job(session, rec.job_id)
    orphan = None
    if rec.provider_message_id:
        orphan = await _reload(session, (ChannelMessage.provider == rec.provider)
                               & (ChannelMessage.provider_message_id == rec.provider_message_id)
                               & ChannelMessage.job_id.is_(None))
    if orphan is not None and row is None:
        orphan.job_id = rec.job_id
        await session.flush()
        row = orphan
    elif orphan is not None and row is not None:
        # The callback overtook us and the job already had a row: fold it in.
        stamps = {c: getattr(orphan, c) for c in STAMPS.values() if getattr(orphan, c)}
        status, code = orphan.status, orphan.error_code
        await session.delete(orphan)
        await session.flush()
        await _advance(session, ChannelMessage.id == row.id, status, at=orphan.updated_at,
                       error_code=code, stamps=stamps)
    if row is None:
        await session.execute(_insert(session)(ChannelMessage).values(
            job_id=rec.job_id, provider=rec.provider, channel=rec.channel, to=rec.to,
            kind=rec.kind, status="queued", attempts=0).on_conflict_do_nothing())
    columns: dict[str, Any] = {
        "provider": rec.provider, "channel": rec.channel, "to": rec.to, "kind": rec.kind,
        "attempts": case((ChannelMessage.attempts < rec.attempts, rec.attempts),
                         else_=ChannelMessage.attempts),
    }
    columns.update({name: value for name in ("rule", "segments", "cost")
                    if (value := getattr(rec, name)) is not None})
    if rec.provider_message_id:
        columns["provider_message_id"] = rec.provider_message_id
    await _advance(session, ChannelMessage.job_id == rec.job_id, rec.status, at=utcnow(),
                   error_code=rec.error_code, **columns)


async def record_status(session: AsyncSession, provider: str, provider_message_id: str,
                        status: str, *, error_code: str | None = None,
                        at: datetime | None = None) -> ChannelMessage:
    """Apply a provider's status callback; keep it unclaimed if the send is not recorded yet."""
    at = at or utcnow()
    where = ((ChannelMessage.provider == provider)
             & (ChannelMessage.provider_message_id == provider_message_id))
    # A message that failed costs nothing in the estimate (it is of what people received).
    free: dict[str, Any] = {"cost": Decimal(0)} if status == "failed" else {}
    if not await _advance(session, where, status, at=at, error_code=error_code, **free):
        stamp = {STAMPS[status]: at} if status in STAMPS else {}
        inserted = await session.execute(_insert(session)(ChannelMessage).values(
            provider=provider, provider_message_id=provider_message_id, status=status,
            error_code=error_code, **stamp).on_conflict_do_nothing())
        if not inserted.rowcount:  # type: ignore[attr-defined]  # an UPDATE/INSERT's result: a CursorResult
            await _advance(session, where, status, at=at, error_code=error_code, **free)
    saved = await _reload(session, where)
    assert saved is not None
    return saved


@dataclass(frozen=True)
class CostLine:
    """Messages and their estimated cost for one channel."""

    channel: str
    messages: int
    segments: int
    cost: Decimal


async def message_costs(session: AsyncSession, *, since: datetime | None = None,
                        until: datetime | None = None, to: str | None = None,
                        job_prefix: str | None = None, kind: str | None = None
                        ) -> list[CostLine]:
    """Estimated cost per channel of the recorded jobs that match (all filters optional):
    created in ``[since, until)``, sent to ``to``, with ids starting ``job_prefix`` (e.g.
    one event's notifications ``n:<event id>:``), of message ``kind``."""
    m = ChannelMessage
    query = (select(m.channel, func.count(), func.coalesce(func.sum(m.segments), 0),
                    func.coalesce(func.sum(m.cost), 0))
             .where(m.job_id.is_not(None)).group_by(m.channel).order_by(m.channel))
    if since is not None:
        query = query.where(m.created_at >= since)
    if until is not None:
        query = query.where(m.created_at < until)
    if to is not None:
        query = query.where(m.to == to)
    if job_prefix:
        escaped = job_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(m.job_id.like(f"{escaped}%", escape="\\"))
    if kind is not None:
        query = query.where(m.kind == kind)
    rows = (await session.execute(query)).all()
    return [CostLine(channel or "", int(n), int(segments or 0), Decimal(str(cost)))
            for channel, n, segments, cost in rows]
