"""SLA timers of complaints: a warning at 80% of the time, escalation by levels after it,
and the automatic closing of resolutions the citizen leaves unanswered.

The deadline of an open complaint is its current state's SLA when the state has one (a GRO
has 24 hours to assign), else the complaint's own SLA (the type's hours from filing). Past
the deadline the complaint climbs the levels of its escalation plan (``escalation.yaml``:
the GROs, then the ULB's admin, then the state admin), each level reminded at its interval
until someone acts. Every workflow transition starts a new state visit: the workflow
clears ``sla_warned``, ``escalated``, ``escalation_level`` and ``escalated_at``. The sweep
sets them by compare-and-set (state, last change, level and last announcement unchanged)
in the same transaction as the outbox event, so several workers sweeping at once announce
each warning, level and reminder once.

- ``complaint.sla_warning``: to the assignee, or to the GROs of the city when nobody is
  assigned;
- ``complaint.escalated``: to the level's people, with ``level``, ``level_name`` and
  ``repeat`` (0 the first time at a level, then 1, 2, ... for the reminders).

Both carry ``recipients`` (``[{user_id, phone, locale}]``) so notifiers need no lookup.

A RESOLVED complaint that the citizen neither rates nor reopens for the configured days
(SAMVAD_AUTO_CLOSE_DAYS, DIGIT-style) is closed by the system (AUTOCLOSE, marked
``auto_closed``); the workflow hook tells the citizen as for any status change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import Counter
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from core_api.complaints.escalation import EscalationPlan, audience_recipients, plan_for
from core_api.complaints.models import Complaint, ComplaintType
from core_api.complaints.recipients import gro_recipients
from core_api.db import Database, utcnow
from core_api.events.outbox import emit
from core_api.users.models import User
from core_api.workflow import service as workflow
from core_api.workflow.definition import BusinessServiceDef
from core_api.workflow.models import ProcessInstance

log = structlog.get_logger(__name__)

PGR = "PGR"
WARN_FRACTION = 0.8
# States where staff owe the next step (RESOLVED and REJECTED wait for the citizen).
OPEN_STATES = ("PENDINGFORASSIGNMENT", "PENDINGATLME", "PENDINGFORREASSIGNMENT")
RESOLVED = "RESOLVED"
AUTO_CLOSE = "AUTOCLOSE"
DEFAULT_AUTO_CLOSE_DAYS = 7
BATCH = 200

# samvad_sla_events_total{event}: "warning", "breach" (a level reached), "reminder" (a
# level repeated), "auto_close"; counted once committed.
SLA_EVENTS = Counter("samvad_sla_events",
                     "Complaint SLA warnings, escalations, reminders and automatic closings",
                     ["event"])


@dataclass
class SweepCounts:
    """What one sweep announced."""

    warned: int = 0
    escalated: int = 0  # a level reached
    reminded: int = 0  # a level repeated

    @property
    def total(self) -> int:
        return self.warned + self.escalated + self.reminded


@dataclass(frozen=True)
class Window:
    """A deadline and when its clock started; ``kind`` is ``state`` or ``complaint``."""

    start: datetime
    due: datetime
    kind: str

    def warn_at(self) -> datetime:
        return self.start + (self.due - self.start) * WARN_FRACTION


@dataclass(frozen=True)
class Escalation:
    """One announcement at a level: the first (``repeat`` 0) or a reminder."""

    level: int
    repeat: int


def window_of(definition: BusinessServiceDef, process: ProcessInstance) -> Window | None:
    """The deadline that applies to the process now (None: no SLA)."""
    state_hours = definition.state(process.state).sla_hours
    if process.state_sla_due_at is not None:
        start = (process.state_sla_due_at - timedelta(hours=state_hours) if state_hours
                 else process.updated_at)
        return Window(start, process.state_sla_due_at, "state")
    if process.sla_due_at is not None:
        return Window(process.created_at, process.sla_due_at, "complaint")
    return None


def next_escalation(plan: EscalationPlan, process: ProcessInstance, due: datetime,
                    now: datetime) -> Escalation | None:
    """What is owed now past the deadline ``due``: a higher level (straight to the highest
    whose time has come, when sweeps were late), a reminder of the current one, or nothing."""
    reached = plan.reached(due, now)
    current = min(process.escalation_level, len(plan.levels))  # the file may have shrunk
    if reached > current:
        return Escalation(reached, 0)
    if current and plan.reminder_due(current, process.escalated_at, now):
        return Escalation(current, plan.repeat_count(current, due, now))
    return None


async def _longest_window_hours(session: AsyncSession, definition: BusinessServiceDef) -> int:
    """The longest SLA any open complaint can have: bounds which rows can be near a deadline."""
    longest_type = await session.scalar(select(func.max(ComplaintType.sla_hours))) or 0
    states = [s.sla_hours or 0 for s in definition.states.values()]
    return max(int(longest_type), definition.sla_hours or 0, *states, 1)


def _due_rows(plan: EscalationPlan, deadline: Any, now: datetime,
              horizon: datetime) -> ColumnElement[bool]:
    """Rows that may owe something now: a warning or the first level (not escalated yet),
    or, per level reached, the next level or a reminder. Rows waiting for nothing are
    not read, so a sweep's batch is spent on work."""
    first = plan.levels[0]
    parts = [and_(ProcessInstance.escalation_level == 0, deadline <= horizon,
                  or_(ProcessInstance.sla_warned.is_(False), deadline <= now - first.after))]
    top = len(plan.levels)
    for number in range(1, top + 1):
        owed = []
        if number < top:
            owed.append(deadline <= now - plan.levels[number].after)
        interval = plan.level(number).repeat
        if interval is not None:
            owed.append(ProcessInstance.escalated_at <= now - interval)
        if owed:
            at_level = (ProcessInstance.escalation_level >= number if number == top
                        else ProcessInstance.escalation_level == number)
            parts.append(and_(at_level, or_(*owed)))
    return or_(*parts)


async def _claim(session: AsyncSession, process: ProcessInstance, now: datetime,
                 escalation: Escalation | None) -> bool:
    """Record the announcement unless a transition or another sweep came first; True when
    this sweep recorded it (and so announces it)."""
    conditions = [ProcessInstance.id == process.id, ProcessInstance.state == process.state,
                  ProcessInstance.updated_at == process.updated_at,
                  ProcessInstance.escalation_level == process.escalation_level,
                  ProcessInstance.escalated_at.is_(None) if process.escalated_at is None
                  else ProcessInstance.escalated_at == process.escalated_at]
    values: dict[str, Any] = {"sla_warned": True}
    if escalation is None:
        conditions.append(ProcessInstance.sla_warned.is_(False))
    else:
        values.update(escalated=True, escalation_level=escalation.level, escalated_at=now)
    result = await session.execute(
        update(ProcessInstance).where(*conditions).values(**values)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1  # type: ignore[attr-defined]  # an UPDATE/INSERT's result: a CursorResult


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


async def _person(session: AsyncSession, user_id: int | None) -> User | None:
    return await session.get(User, user_id) if user_id is not None else None


class _Recipients:
    """Who each level tells, looked up once per (level, city) in a sweep."""

    def __init__(self, session: AsyncSession, plan: EscalationPlan) -> None:
        self.session, self.plan = session, plan
        self.found: dict[tuple[int, str], list[dict[str, Any]]] = {}

    async def of_level(self, number: int, tenant_code: str) -> list[dict[str, Any]]:
        key = (number, tenant_code)
        if key not in self.found:
            audience = self.plan.level(number).to
            self.found[key] = await audience_recipients(self.session, audience, tenant_code)
        return self.found[key]

    async def for_level(self, number: int, tenant_code: str) -> list[dict[str, Any]]:
        """The level's people; a vacant level passes up the chain (the next level with
        someone), else down to the nearest level below with someone."""
        top = len(self.plan.levels)
        order = [*range(number, top + 1), *range(number - 1, 0, -1)]
        for candidate in order:
            people = await self.of_level(candidate, tenant_code)
            if people:
                if candidate != number:
                    log.warning("escalation_level_vacant", level=number, told=candidate,
                                tenant=tenant_code)
                return people
        log.warning("escalation_nobody_to_tell", level=number, tenant=tenant_code)
        return []


async def sla_sweep(session: AsyncSession, now: datetime, *, batch: int = BATCH,
                    plan: EscalationPlan | None = None) -> SweepCounts:
    """Warn about, escalate and remind of the open complaints whose deadline is near or past.

    Flushes; the caller commits (the flags and the events go together)."""
    plan = plan or plan_for(PGR)
    definition = await workflow.get_definition(session, PGR)
    longest = await _longest_window_hours(session, definition)
    deadline = func.coalesce(ProcessInstance.state_sla_due_at, ProcessInstance.sla_due_at)
    horizon = now + timedelta(hours=longest * (1 - WARN_FRACTION))
    processes = list(await session.scalars(
        select(ProcessInstance)
        .where(ProcessInstance.business_service == PGR,
               ProcessInstance.state.in_(OPEN_STATES),
               _due_rows(plan, deadline, now, horizon))
        .order_by(deadline, ProcessInstance.id).limit(batch)
        .execution_options(populate_existing=True)))
    counts = SweepCounts()
    if not processes:
        return counts
    complaints = {c.complaint_no: c for c in await session.scalars(
        select(Complaint).where(Complaint.complaint_no.in_([p.business_id for p in processes])))}
    levels = _Recipients(session, plan)

    for process in processes:
        window = window_of(definition, process)
        complaint = complaints.get(process.business_id)
        if window is None or complaint is None:
            continue
        escalation = next_escalation(plan, process, window.due, now)
        if escalation is None and (process.escalation_level or process.sla_warned
                                   or now < window.warn_at()):
            continue
        if not await _claim(session, process, now, escalation):
            continue
        assignee = await _person(session, process.assignee_user_id)
        payload: dict[str, Any] = {
            "complaint_id": complaint.complaint_no,
            "tenant_code": complaint.tenant_code,
            "status": process.state,
            "type_code": complaint.type_code,
            "deadline": _iso(window.due),
            "deadline_kind": window.kind,
            "sla_due_at": _iso(complaint.sla_due_at),
            "assignee_user_id": assignee.id if assignee else None,
            "assignee_name": assignee.name if assignee else None,
        }
        if escalation is not None:
            payload.update(
                recipients=await levels.for_level(escalation.level, complaint.tenant_code),
                level=escalation.level, level_name=plan.level(escalation.level).name,
                repeat=escalation.repeat)
            emit(session, "complaint.escalated", complaint.tenant_code, complaint.complaint_no,
                 payload)
            if escalation.repeat:
                counts.reminded += 1
            else:
                counts.escalated += 1
            continue
        if assignee is None or not assignee.phone:
            payload["recipients"] = await gro_recipients(session, complaint.tenant_code)
        else:
            payload["recipients"] = [{"user_id": assignee.id, "phone": assignee.phone,
                                      "locale": assignee.locale}]
        emit(session, "complaint.sla_warning", complaint.tenant_code, complaint.complaint_no,
             payload)
        counts.warned += 1
    await session.flush()
    return counts


async def auto_close_sweep(session: AsyncSession, now: datetime, days: int, *,
                           batch: int = BATCH) -> int:
    """Close (AUTOCLOSE, by the system) the complaints RESOLVED ``days`` ago or earlier that
    the citizen neither rated nor reopened; how many were closed. ``days`` 0: never.

    Each one is claimed by compare-and-set first (still RESOLVED, unchanged since it was
    read), which also locks it: a citizen's answer or another sweep that came first wins,
    on PostgreSQL and SQLite alike. Flushes; the caller commits."""
    if days <= 0:
        return 0
    cutoff = now - timedelta(days=days)
    rows = (await session.execute(
        select(ProcessInstance.id, ProcessInstance.business_id, ProcessInstance.updated_at)
        .where(ProcessInstance.business_service == PGR, ProcessInstance.state == RESOLVED,
               ProcessInstance.updated_at <= cutoff)
        .order_by(ProcessInstance.updated_at, ProcessInstance.id).limit(batch))).all()
    closed = 0
    for process_id, number, seen in rows:
        claimed = await session.execute(
            update(ProcessInstance)
            .where(ProcessInstance.id == process_id, ProcessInstance.state == RESOLVED,
                   ProcessInstance.updated_at == seen)
            .values(updated_at=seen).execution_options(synchronize_session=False))
        if claimed.rowcount != 1:  # type: ignore[attr-defined]  # an UPDATE/INSERT's result: a CursorResult
            continue
        await workflow.transition(session, business_service=PGR, business_id=number,
                                  action=AUTO_CLOSE, principal=workflow.SYSTEM_PRINCIPAL)
        await session.execute(update(Complaint).where(Complaint.complaint_no == number)
                              .values(auto_closed=True)
                              .execution_options(synchronize_session=False))
        closed += 1
    await session.flush()
    return closed


async def sla_once(db: Database, now: datetime | None = None, *,
                   auto_close_days: int = DEFAULT_AUTO_CLOSE_DAYS,
                   escalation_file: Path | None = None) -> int:
    """One sweep (the worker's SLA loop): deadlines, then unanswered resolutions, each in
    its own transaction; how many were announced or closed."""
    now = now or utcnow()
    async with db.sessions() as session:
        counts = await sla_sweep(session, now, plan=plan_for(PGR, escalation_file))
        await session.commit()
    async with db.sessions() as session:
        closed = await auto_close_sweep(session, now, auto_close_days)
        await session.commit()
    for event, n in (("warning", counts.warned), ("breach", counts.escalated),
                     ("reminder", counts.reminded), ("auto_close", closed)):
        if n:
            SLA_EVENTS.labels(event).inc(n)
    if counts.total or closed:
        log.info("sla_sweep", warned=counts.warned, escalated=counts.escalated,
                 reminded=counts.reminded, auto_closed=closed)
    return counts.total + closed
