"""Recording outbound messages and their statuses; statuses only move up ``STATUS_RANK``.

Every status change is one conditional UPDATE (``CASE`` on the stored rank), and a batch
of job records one multi-row INSERT ... ON CONFLICT DO UPDATE with the same ``CASE``, so
two writers racing (``delivered`` and ``read``) cannot move a message backwards on either
database. Services flush; the request boundary commits.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    SQLColumnExpression,
    Table,
    case,
    func,
    literal,
    select,
    tuple_,
    update,
)
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


def _rank(status: SQLColumnExpression[Any]) -> ColumnElement[int]:
    """A status's place on ``STATUS_RANK``, in SQL (-1 for anything else)."""
    return case(STATUS_RANK, value=status, else_=-1)


async def _advance(session: AsyncSession, where: ColumnElement[bool], status: str, *,
                   at: datetime, error_code: str | None = None,
                   **columns: Any) -> ChannelMessage | None:
    """Raise the status of the matching row to ``status`` unless it is further on; the row
    as it is now (RETURNING: no second statement to read it), None if there is none."""
    values: dict[str, Any] = dict(columns)
    values["status"] = case((_rank(ChannelMessage.status) < STATUS_RANK[status], status),
                            else_=ChannelMessage.status)
    if status in STAMPS:
        column = STAMPS[status]
        values[column] = func.coalesce(getattr(ChannelMessage, column), _stamp(at))
    if error_code is not None:
        values["error_code"] = error_code
    return await session.scalar(
        update(ChannelMessage).where(where).values(**values).returning(ChannelMessage)
        .execution_options(synchronize_session=False, populate_existing=True))


async def _reload(session: AsyncSession, where: ColumnElement[bool]) -> ChannelMessage | None:
    query = select(ChannelMessage).where(where).execution_options(populate_existing=True)
    return await session.scalar(query)


async def message_by_job(session: AsyncSession, job_id: str) -> ChannelMessage | None:
    """The record of one job."""
    return await _reload(session, ChannelMessage.job_id == job_id)


async def record_job(session: AsyncSession, rec: JobRecord, *,
                     claim: bool = False) -> ChannelMessage:
    """Create or update the record of ``rec.job_id`` (``claim``: see ``record_jobs``)."""
    await record_jobs(session, [rec], claim=claim)
    saved = await message_by_job(session, rec.job_id)
    assert saved is not None
    return saved


async def record_jobs(session: AsyncSession, recs: list[JobRecord], *,
                      claim: bool = False) -> int:
    """Write ``recs`` as if one after the other, with one multi-row upsert.

    A send worker's records of many messages cost one statement, not a few per record:
    records of the same job are folded first (an upsert may touch a row only once), and
    the conflict's UPDATE keeps every rule of a single record in SQL (the status only
    moves up, attempts only grow, a value the record lacks is kept).

    A provider status that overtook a record sits in a row without ``job_id`` holding the
    provider message id, so the upsert then violates that unique constraint: the caller
    rolls back and calls again with ``claim``, which first deletes those rows (one
    statement) and folds what they knew into the records' rows.
    """
    early = await _take_early_statuses(session, recs) if claim else {}
    now = utcnow()
    rows = [_row(job_recs, now, early) for job_recs in _by_job(recs).values()]
    await session.execute(_upsert(session.get_bind().dialect.name), rows)
    return len(recs)


def _by_job(recs: list[JobRecord]) -> dict[str, list[JobRecord]]:
    """The records of each job, in the order given."""
    jobs: dict[str, list[JobRecord]] = {}
    for rec in recs:
        jobs.setdefault(rec.job_id, []).append(rec)
    return jobs


def _row(recs: list[JobRecord], now: datetime,
         early: dict[tuple[str, str], Any]) -> dict[str, Any]:
    """One job's records folded into the row they would leave behind, one after the other,
    after the provider status that came before them (``early``, by provider message id)."""
    last = recs[-1]

    def latest(name: str) -> Any:
        return next((value for rec in reversed(recs)
                     if (value := getattr(rec, name)) is not None), None)

    message_id = latest("provider_message_id") or None
    first = early.get((last.provider, message_id)) if message_id else None
    statuses = [rec.status for rec in recs] + ([first.status] if first else [])
    return {
        "job_id": last.job_id, "provider": last.provider, "channel": last.channel,
        "to": last.to, "kind": last.kind, "provider_message_id": message_id,
        "status": max(statuses, key=STATUS_RANK.__getitem__),
        "attempts": max(rec.attempts for rec in recs),
        "error_code": latest("error_code") or (first.error_code if first else None),
        **{name: latest(name) for name in ("rule", "segments", "cost")},
        **{column: (getattr(first, column) if first else None)
           or (now if status in statuses else None) for status, column in STAMPS.items()},
        "created_at": first.created_at if first else now, "updated_at": now,
    }


@functools.cache
def _upsert(dialect: str) -> Any:
    """INSERT the rows; a job already recorded gets the rules of ``_advance`` instead.

    Executed with a list of rows, SQLAlchemy's "insertmanyvalues" sends it as one
    multi-row INSERT (that is what RETURNING asks for) from one cached compilation; a
    statement with the rows in ``.values()`` would be compiled afresh for every batch.
    """
    table = cast(Table, ChannelMessage.__table__)
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    new, old = statement.excluded, table.c
    kept_unless_given = ("provider_message_id", "error_code", "rule", "segments", "cost")
    return statement.on_conflict_do_update(index_elements=[old.job_id], set_={
        **{name: new[name] for name in ("provider", "channel", "to", "kind", "updated_at")},
        "status": case((_rank(old.status) < _rank(new.status), new.status),
                       else_=old.status),
        "attempts": case((old.attempts < new.attempts, new.attempts), else_=old.attempts),
        **{name: func.coalesce(new[name], old[name]) for name in kept_unless_given},
        **{name: func.coalesce(old[name], new[name]) for name in STAMPS.values()},
    }).returning(old.id)


async def _take_early_statuses(session: AsyncSession,
                               recs: list[JobRecord]) -> dict[tuple[str, str], Any]:
    """Delete the unclaimed status rows of these records' provider message ids; what they
    knew, by (provider, provider message id). A callback for them that comes meanwhile
    waits for this transaction, then finds the job's row."""
    wanted = {(rec.provider, rec.provider_message_id)
              for rec in recs if rec.provider_message_id}
    if not wanted:
        return {}
    table = cast(Table, ChannelMessage.__table__)
    gone = await session.execute(table.delete().where(
        table.c.job_id.is_(None),
        tuple_(table.c.provider, table.c.provider_message_id).in_(wanted),
    ).returning(table))
    return {(row.provider, row.provider_message_id): row for row in gone}


async def record_status(session: AsyncSession, provider: str, provider_message_id: str,
                        status: str, *, error_code: str | None = None,
                        at: datetime | None = None) -> ChannelMessage:
    """Apply a provider's status callback; keep it unclaimed if the send is not recorded yet."""
    at = at or utcnow()
    where = ((ChannelMessage.provider == provider)
             & (ChannelMessage.provider_message_id == provider_message_id))
    # A message that failed costs nothing in the estimate (it is of what people received).
    free: dict[str, Any] = {"cost": Decimal(0)} if status == "failed" else {}
    saved = await _advance(session, where, status, at=at, error_code=error_code, **free)
    if saved is None:
        stamp = {STAMPS[status]: at} if status in STAMPS else {}
        inserted = await session.execute(_insert(session)(ChannelMessage).values(
            provider=provider, provider_message_id=provider_message_id, status=status,
            error_code=error_code, **stamp).on_conflict_do_nothing())
        if inserted.rowcount:  # type: ignore[attr-defined]  # an UPDATE/INSERT's result: a CursorResult
            saved = await _reload(session, where)
        else:  # the send's record came in the meantime
            saved = await _advance(session, where, status, at=at, error_code=error_code,
                                   **free)
    assert saved is not None
    return saved


@dataclass(frozen=True)
class StatusReport:
    """One provider status callback: what ``record_status`` applies, for a batch."""

    provider: str
    provider_message_id: str
    status: str
    error_code: str | None = None
    at: datetime | None = None


async def record_statuses(session: AsyncSession, reports: list[StatusReport]) -> int:
    """Apply many provider status callbacks as ``record_status`` would one after the other,
    with one multi-row upsert on the provider message id.

    The reports of one message are folded first (an upsert may touch a row only once):
    the furthest status, each status's first time, the last error code. A message whose
    send is not recorded yet gets its unclaimed row, adopted later (``record_jobs``).
    """
    now = utcnow()
    by_message: dict[tuple[str, str], list[StatusReport]] = {}
    for report in reports:
        by_message.setdefault((report.provider, report.provider_message_id), []).append(report)
    rows = []
    for (provider, message_id), folded in by_message.items():
        status = max((r.status for r in folded), key=STATUS_RANK.__getitem__)
        stamps = {column: min((r.at or now for r in folded if r.status == name),
                              default=None) for name, column in STAMPS.items()}
        rows.append({
            "provider": provider, "provider_message_id": message_id, "status": status,
            "error_code": next((r.error_code for r in reversed(folded) if r.error_code),
                               None),
            "cost": Decimal(0) if status == "failed" else None,
            "created_at": now, "updated_at": now, **stamps})
    if rows:
        await session.execute(_status_upsert(session.get_bind().dialect.name), rows)
    return len(reports)


@functools.cache
def _status_upsert(dialect: str) -> Any:
    """INSERT unclaimed status rows; a message already recorded gets ``_advance``'s rules
    (the status only moves up, a first time is kept, a failed message costs nothing)."""
    table = cast(Table, ChannelMessage.__table__)
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    new, old = statement.excluded, table.c
    return statement.on_conflict_do_update(
        index_elements=[old.provider, old.provider_message_id], set_={
            "status": case((_rank(old.status) < _rank(new.status), new.status),
                           else_=old.status),
            "error_code": func.coalesce(new.error_code, old.error_code),
            "cost": case((new.status == "failed", new.cost), else_=old.cost),
            "updated_at": new.updated_at,
            **{name: func.coalesce(old[name], new[name]) for name in STAMPS.values()},
        }).returning(old.id)  # RETURNING: one multi-row INSERT, as in ``_upsert``


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
