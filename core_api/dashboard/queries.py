"""The dashboard's figures: a few aggregate queries over indexed columns, on any backend.

Each query filters on the tenant codes in scope (an IN list on the leading column of an
index) and a time range (the second column), and groups on columns that index carries,
so PostgreSQL answers from the index alone. Complaints take two such passes (type x
locality; status x rating with SLA and resolution time), a count of the closed
resolutions (confirmed by the citizen or auto-closed) and a bounded read of the oldest
open ones; names of categories and wards come from the small reference tables
and are joined in Python. Timings at a million complaints: bench/scale.py.

Every table may be downloaded as CSV by any staff role of the tenant (a registrar too), so
none holds anything personal: counts and names of places, and in ``oldest_open`` the
complaint's description redacted as on Open311 (``core_api.privacy.redact``) — no names,
phone numbers, pins, addresses or workflow comments.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Interval, and_, cast, extract, func, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from core_api.bills.models import Bill
from core_api.certificates.models import CertificateRequest
from core_api.complaints.models import Complaint, ComplaintCategory, ComplaintType
from core_api.dashboard.models import ChatActivity
from core_api.db import utcnow
from core_api.messaging.models import ChannelMessage
from core_api.messaging.service import CostLine, message_costs
from core_api.payments.models import Payment, PaymentStatus
from core_api.privacy.redact import redact
from core_api.tenants.models import Boundary, Tenant
from core_api.users.models import User

KOLKATA = ZoneInfo("Asia/Kolkata")
OPEN_STATES = ("PENDINGFORASSIGNMENT", "PENDINGATLME", "PENDINGFORREASSIGNMENT")
CLOSED_AFTER_RESOLUTION = "CLOSEDAFTERRESOLUTION"
OLDEST_OPEN_LIMIT = 10
RATINGS = (1, 2, 3, 4, 5)
NO_WARD = "(no ward)"


@dataclass(frozen=True)
class Scope:
    """What one dashboard request covers: a tenant (and the ULBs under it) and IST days."""

    tenant: str
    level: str  # "state" or "ulb"
    tenants: tuple[str, ...]
    day_from: date
    day_to: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.day_from, time(), KOLKATA).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """Exclusive: midnight after ``day_to``."""
        return datetime.combine(self.day_to + timedelta(days=1), time(), KOLKATA).astimezone(UTC)


async def tenant_scope(session: AsyncSession, tenant: Tenant, day_from: date,
                       day_to: date) -> Scope:
    """The scope of ``tenant``: itself, and for a state every ULB under it."""
    codes = [tenant.code]
    if tenant.level == "state":
        codes += list(await session.scalars(
            select(Tenant.code).where(Tenant.code.like(tenant.code + ".%"))))
    return Scope(tenant.code, tenant.level, tuple(sorted(codes)), day_from, day_to)


def _ist_day(column: Any, sqlite: bool) -> ColumnElement[Any]:
    """The Asia/Kolkata calendar day of a UTC timestamp column."""
    if sqlite:
        return func.date(column, "+330 minutes")
    return cast(func.timezone("Asia/Kolkata", column), Date)


def _total_seconds(start: Any, end: Any, sqlite: bool) -> ColumnElement[Any]:
    """Sum over the group of ``end - start`` in seconds (rows where either is NULL add 0).

    PostgreSQL adds intervals and converts once per group, not per row."""
    if sqlite:
        return func.sum((func.julianday(end) - func.julianday(start)) * 86400.0)
    return extract("epoch", func.sum(end - start, type_=Interval))


def _day_text(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _count(flag: ColumnElement[bool]) -> ColumnElement[Any]:
    """count(*) FILTER (WHERE flag): cheaper per row than sum(CASE ...) on PostgreSQL."""
    return func.count().filter(flag)


@lru_cache(maxsize=64)
def _oldest_open(tenants: tuple[str, ...]) -> Any:
    """The oldest open complaints of the scope, bounded: for every (tenant, open status) the
    first few rows of ``ix_complaints_tenant_status_created`` (an index range read in
    order, LIMITed), merged. A plain ``ORDER BY created_at LIMIT`` over an IN list would
    fetch and sort every open complaint of the state. Built once per tenant list."""
    c = Complaint
    columns = (c.complaint_no, c.tenant_code, c.type_code, c.status, c.description,
               c.citizen_user_id, c.created_at, c.sla_due_at, c.id)
    parts = [select(*columns).where(c.tenant_code == tenant, c.status == status)
             .order_by(c.created_at, c.id).limit(OLDEST_OPEN_LIMIT).subquery()
             for tenant in tenants for status in OPEN_STATES]
    merged = union_all(*(select(*part.c) for part in parts)).subquery()
    return (select(*(merged.c[column.key] for column in columns[:-1]))
            .order_by(merged.c.created_at, merged.c.id).limit(OLDEST_OPEN_LIMIT))


async def complaint_figures(session: AsyncSession, scope: Scope, sqlite: bool,
                            now: datetime | None = None) -> dict[str, Any]:
    """Complaints by status, category and ward; SLA; resolution time; ratings; oldest open."""
    now = now or utcnow()
    c = Complaint
    in_scope = and_(c.tenant_code.in_(scope.tenants), c.created_at >= scope.start,
                    c.created_at < scope.end)
    # Two passes over ix_complaints_dashboard (index-only on PostgreSQL), each with as few
    # group keys and per-row tests as it can: the counts by type x locality (for the
    # categories and wards), and by status x rating with what SLA and resolution time
    # need. One GROUP BY over every key with every aggregate costs more than both (its
    # groups multiply: at a year of the state it spills past work_mem).
    groups = (await session.execute(
        select(c.type_code, c.locality_id, func.count())
        .where(in_scope).group_by(c.type_code, c.locality_id))).all()
    judged_rows = (await session.execute(
        select(c.status, c.rating, func.count(),
               _count(c.resolved_at <= c.sla_due_at),  # NULL (not resolved) is not counted
               _count(c.sla_due_at < now),
               func.count(c.resolved_at),
               _total_seconds(c.created_at, c.resolved_at, sqlite))
        .where(in_scope).group_by(c.status, c.rating))).all()
    in_time = late = open_late = open_in_time = resolved_count = 0
    seconds = 0.0
    ratings = dict.fromkeys(RATINGS, 0)
    by_status: dict[str, int] = defaultdict(int)
    for status, rating, n, ok, past_due, rc, secs in judged_rows:
        by_status[status] += n
        in_time, late = in_time + ok, late + rc - ok
        if status in OPEN_STATES:
            open_late, open_in_time = open_late + past_due, open_in_time + n - past_due
        resolved_count += rc
        seconds += float(secs or 0)
        if rating in ratings:
            ratings[rating] += n

    types = {code: (category, name) for code, category, name in (await session.execute(
        select(ComplaintType.code, ComplaintType.category_code, ComplaintType.name_en))).all()}
    categories = dict((await session.execute(
        select(ComplaintCategory.code, ComplaintCategory.name_en))).all())
    wards = await _wards_of_localities(session, scope)

    total = 0
    by_category: dict[str, int] = defaultdict(int)
    by_ward: dict[str, int] = defaultdict(int)
    for type_code, locality_id, n in groups:
        total += n
        by_category[types.get(type_code, (type_code, type_code))[0]] += n
        by_ward[wards.get(locality_id, NO_WARD) if locality_id is not None else NO_WARD] += n

    # Resolutions the citizen confirmed (rated) against those the system closed unanswered
    # (SAMVAD_AUTO_CLOSE_DAYS): only closed rows are read, by the status index.
    closings = dict((await session.execute(
        select(c.auto_closed, func.count())
        .where(in_scope, c.status == CLOSED_AFTER_RESOLUTION)
        .group_by(c.auto_closed))).all())

    judged = in_time + late + open_late
    rated = sum(ratings.values())
    oldest = (await session.execute(_oldest_open(scope.tenants))).all()
    # Descriptions as the public may read them: staff of any role download these tables.
    citizens = {row.citizen_user_id for row in oldest}
    names = dict((await session.execute(select(User.id, User.name).where(
        User.id.in_(citizens)))).all()) if citizens else {}
    return {
        "total": total,
        "by_status": [{"status": s, "count": n} for s, n in
                      sorted(by_status.items(), key=lambda kv: (-kv[1], kv[0]))],
        "by_category": [{"category": code, "name": categories.get(code, code), "count": n}
                        for code, n in sorted(by_category.items(),
                                              key=lambda kv: (-kv[1], kv[0]))],
        "by_ward": [{"ward": w, "count": n} for w, n in
                    sorted(by_ward.items(), key=lambda kv: (-kv[1], kv[0]))],
        "sla": {
            "resolved_within_sla": in_time, "resolved_late": late,
            "open_past_sla": open_late, "open_within_sla": open_in_time,
            "breaches": late + open_late,
            "compliance_percent": round(100 * in_time / judged, 1) if judged else None,
        },
        "resolution": {
            "resolved": resolved_count,
            "average_hours": round(seconds / resolved_count / 3600, 1)
            if resolved_count else None,
            "confirmed": closings.get(False, 0),
            "auto_closed": closings.get(True, 0),
        },
        "ratings": {
            "count": rated,
            "average": round(sum(r * n for r, n in ratings.items()) / rated, 2)
            if rated else None,
            "distribution": [{"rating": r, "count": ratings[r]} for r in RATINGS],
        },
        "oldest_open": [
            {"complaint_no": no, "tenant": t, "type": types.get(tc, (None, tc))[1],
             "status": st, "description": (redact(desc, [names.get(citizen)]) or "")[:120],
             "created_at": created.isoformat(), "sla_due_at": due.isoformat(),
             "overdue": due < now}
            for no, t, tc, st, desc, citizen, created, due in oldest
        ],
    }


async def _wards_of_localities(session: AsyncSession, scope: Scope) -> dict[int, str]:
    """locality id -> its ward's English name (a locality without a ward keeps its own)."""
    rows = (await session.execute(
        select(Boundary.id, Boundary.kind, Boundary.parent_id, Boundary.name_en,
               Boundary.tenant_code)
        .where(Boundary.tenant_code.in_(scope.tenants)))).all()
    by_id = {r.id: r for r in rows}
    names: dict[int, str] = {}
    for r in rows:
        node = r
        while node.kind != "ward" and node.parent_id is not None and node.parent_id in by_id:
            node = by_id[node.parent_id]
        label = node.name_en if node.kind == "ward" else r.name_en
        names[r.id] = f"{label} ({r.tenant_code})" if scope.level == "state" else label
    return names


async def collection_figures(session: AsyncSession, scope: Scope,
                             sqlite: bool) -> dict[str, Any]:
    """Successful payments per IST day and per bill type (PT, WS, TL, certificate fees)."""
    p = Payment
    in_scope = and_(p.tenant_code.in_(scope.tenants), p.paid_at >= scope.start,
                    p.paid_at < scope.end, p.status == PaymentStatus.SUCCESS)
    day = _ist_day(p.paid_at, sqlite)
    by_day = (await session.execute(
        select(day, func.count(), func.sum(p.amount)).where(in_scope)
        .group_by(day).order_by(day))).all()
    by_type = (await session.execute(
        select(Bill.service, func.count(), func.sum(p.amount))
        .join(Bill, Bill.id == p.bill_id).where(in_scope)
        .group_by(Bill.service).order_by(Bill.service))).all()
    total = sum((amount or Decimal(0) for _, _, amount in by_day), Decimal("0.00"))
    return {
        "total_amount": str(total),
        "payments": sum(n for _, n, _ in by_day),
        "by_day": [{"day": _day_text(d), "payments": n, "amount": str(a)} for d, n, a in by_day],
        "by_bill_type": [{"bill_type": s, "payments": n, "amount": str(a)}
                         for s, n, a in by_type],
    }


async def certificate_figures(session: AsyncSession, scope: Scope) -> dict[str, Any]:
    """Certificate requests by workflow state."""
    r = CertificateRequest
    rows = (await session.execute(
        select(r.status, func.count())
        .where(r.tenant_code.in_(scope.tenants), r.created_at >= scope.start,
               r.created_at < scope.end)
        .group_by(r.status).order_by(r.status))).all()
    return {"total": sum(n for _, n in rows),
            "by_state": [{"state": s, "count": n} for s, n in rows]}


def _funnel(rows: list[Any]) -> list[dict[str, Any]]:
    """Per flow: its steps by arrivals (most first), the drop-off to the next, completions."""
    steps: dict[str, list[tuple[str, int]]] = defaultdict(list)
    completed: dict[str, int] = defaultdict(int)
    for flow, step, entered, done in rows:
        if step:
            steps[flow].append((step, int(entered or 0)))
        completed[flow] += int(done or 0)
    out = []
    for flow in sorted(set(steps) | set(completed)):
        ordered = sorted(steps[flow], key=lambda s: (-s[1], s[0]))
        started = ordered[0][1] if ordered else 0
        for index, (step, reached) in enumerate(ordered):
            following = ordered[index + 1][1] if index + 1 < len(ordered) else completed[flow]
            out.append({"flow": flow, "step": step, "reached": reached,
                        "drop_off": max(reached - following, 0),
                        "percent_of_start": round(100 * reached / started, 1)
                        if started else None})
        out.append({"flow": flow, "step": "(completed)", "reached": completed[flow],
                    "drop_off": 0,
                    "percent_of_start": round(100 * completed[flow] / started, 1)
                    if started else None})
    return out


async def chat_figures(session: AsyncSession, scope: Scope) -> dict[str, Any]:
    """Conversations per day, channel and language; the step funnel; message outcomes."""
    a = ChatActivity
    tenants = (*scope.tenants, "") if scope.level == "state" else scope.tenants
    in_scope = and_(a.tenant_code.in_(tenants), a.day >= scope.day_from, a.day <= scope.day_to)
    conversations = (await session.execute(
        select(a.day, a.channel, a.locale, func.sum(a.conversations))
        .where(in_scope, a.conversations > 0)
        .group_by(a.day, a.channel, a.locale).order_by(a.day, a.channel, a.locale))).all()
    funnel_rows = (await session.execute(
        select(a.flow, a.step, func.sum(a.entered), func.sum(a.completed))
        .where(in_scope, a.flow != "", or_(a.entered > 0, a.completed > 0))
        .group_by(a.flow, a.step))).all()
    messages: list[dict[str, Any]] = []
    costs: list[CostLine] = []
    if scope.level == "state":  # messages carry no tenant: only the state view shows them
        m = ChannelMessage
        message_rows = (await session.execute(
            select(m.channel, m.status, func.count())
            .where(m.created_at >= scope.start, m.created_at < scope.end, m.job_id.is_not(None))
            .group_by(m.channel, m.status).order_by(m.channel, m.status))).all()
        messages = [{"channel": ch or "", "status": st, "count": n}
                    for ch, st, n in message_rows]
        costs = await message_costs(session, since=scope.start, until=scope.end)
    return {
        "conversations": [{"day": _day_text(d), "channel": ch, "locale": loc or "",
                           "count": int(n)} for d, ch, loc, n in conversations],
        "conversations_total": sum(int(n) for *_, n in conversations),
        "funnel": _funnel(list(funnel_rows)),
        "messages": messages,
        # The delivery record's estimated cost (rupees) of the messages sent in the period.
        "message_costs": {
            "total": float(sum((line.cost for line in costs), Decimal(0))),
            "by_channel": [{"channel": line.channel, "messages": line.messages,
                            "segments": line.segments, "cost": float(line.cost)}
                           for line in costs]},
    }


async def summary(session: AsyncSession, scope: Scope, sqlite: bool) -> dict[str, Any]:
    """Every figure of the dashboard for ``scope``."""
    now = utcnow()
    return {
        "tenant": scope.tenant,
        "tenants": list(scope.tenants),
        "from": scope.day_from.isoformat(),
        "to": scope.day_to.isoformat(),
        "generated_at": now.isoformat(),
        "complaints": await complaint_figures(session, scope, sqlite, now),
        "collections": await collection_figures(session, scope, sqlite),
        "certificates": await certificate_figures(session, scope),
        "chat": await chat_figures(session, scope),
    }


async def add_chat_activity(session: AsyncSession, rows: list[dict[str, Any]],
                            sqlite: bool) -> None:
    """Add counter deltas from the bot's workers (an upsert per row)."""
    # Two dialects' insert(): different classes, the same on_conflict_do_update.
    if sqlite:
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
    fields = ("conversations", "turns", "entered", "completed")
    for row in rows:
        values = {"day": row["day"], "tenant_code": row["tenant"], "channel": row["channel"],
                  "locale": row["locale"], "flow": row["flow"], "step": row["step"],
                  **{f: row[f] for f in fields}}
        statement = insert(ChatActivity).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=["day", "tenant_code", "channel", "locale", "flow", "step"],
            set_={f: getattr(ChatActivity, f) + getattr(statement.excluded, f) for f in fields},
        )
        await session.execute(statement)
