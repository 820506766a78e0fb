"""SLA timers of complaints: a warning when 80% of the time is used, an escalation at breach.

The deadline of an open complaint is its current state's SLA when the state has one (a GRO
has 24 hours to assign), else the complaint's own SLA (the type's hours from filing). Each
state visit is warned and escalated at most once: the workflow clears ``sla_warned`` and
``escalated`` on every transition, and the sweep sets them by compare-and-set (state, last
change and flag unchanged) in the same transaction as the outbox event, so several workers
sweeping at once announce a deadline once.

- ``complaint.sla_warning``: to the assignee, or to the GROs of the city when nobody is
  assigned;
- ``complaint.escalated``: to the GROs of the city.

Both carry ``recipients`` (``[{user_id, phone, locale}]``) so notifiers need no lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from prometheus_client import Counter
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

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
BATCH = 200

# samvad_sla_events_total{event="warning"|"breach"}: counted once committed.
SLA_EVENTS = Counter("samvad_sla_events", "Complaint SLA warnings and breaches announced",
                     ["event"])


@dataclass
class SweepCounts:
    """What one sweep announced."""

    warned: int = 0
    escalated: int = 0

    @property
    def total(self) -> int:
        return self.warned + self.escalated


@dataclass(frozen=True)
class Window:
    """A deadline and when its clock started; ``kind`` is ``state`` or ``complaint``."""

    start: datetime
    due: datetime
    kind: str

    def warn_at(self) -> datetime:
        return self.start + (self.due - self.start) * WARN_FRACTION


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


async def _longest_window_hours(session: AsyncSession, definition: BusinessServiceDef) -> int:
    """The longest SLA any open complaint can have: bounds which rows can be near a deadline."""
    longest_type = await session.scalar(select(func.max(ComplaintType.sla_hours))) or 0
    states = [s.sla_hours or 0 for s in definition.states.values()]
    return max(int(longest_type), definition.sla_hours or 0, *states, 1)


async def _claim(session: AsyncSession, process: ProcessInstance, *, escalate: bool) -> bool:
    """Set the flag unless a transition or another sweep came first; True when we set it."""
    conditions = [ProcessInstance.id == process.id, ProcessInstance.state == process.state,
                  ProcessInstance.updated_at == process.updated_at,
                  ProcessInstance.escalated.is_(False)]
    values: dict[str, Any] = {"sla_warned": True}
    if escalate:
        values["escalated"] = True
    else:
        conditions.append(ProcessInstance.sla_warned.is_(False))
    result = await session.execute(
        update(ProcessInstance).where(*conditions).values(**values)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1  # type: ignore[attr-defined]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


async def _person(session: AsyncSession, user_id: int | None) -> User | None:
    return await session.get(User, user_id) if user_id is not None else None


async def sla_sweep(session: AsyncSession, now: datetime, *, batch: int = BATCH) -> SweepCounts:
    """Warn about and escalate the open complaints whose deadline is near or past.

    Flushes; the caller commits (the flags and the events go together)."""
    definition = await workflow.get_definition(session, PGR)
    longest = await _longest_window_hours(session, definition)
    deadline = func.coalesce(ProcessInstance.state_sla_due_at, ProcessInstance.sla_due_at)
    horizon = now + timedelta(hours=longest * (1 - WARN_FRACTION))
    processes = list(await session.scalars(
        select(ProcessInstance)
        .where(ProcessInstance.business_service == PGR,
               ProcessInstance.state.in_(OPEN_STATES),
               ProcessInstance.escalated.is_(False),
               deadline <= horizon,
               or_(ProcessInstance.sla_warned.is_(False), deadline <= now))
        .order_by(deadline, ProcessInstance.id).limit(batch)
        .execution_options(populate_existing=True)))
    counts = SweepCounts()
    if not processes:
        return counts
    complaints = {c.complaint_no: c for c in await session.scalars(
        select(Complaint).where(Complaint.complaint_no.in_([p.business_id for p in processes])))}
    gros: dict[str, list[dict[str, Any]]] = {}

    async def gros_of(tenant_code: str) -> list[dict[str, Any]]:
        if tenant_code not in gros:
            gros[tenant_code] = await gro_recipients(session, tenant_code)
        return gros[tenant_code]

    for process in processes:
        window = window_of(definition, process)
        complaint = complaints.get(process.business_id)
        if window is None or complaint is None:
            continue
        escalate = now >= window.due
        if not escalate and (process.sla_warned or now < window.warn_at()):
            continue
        if not await _claim(session, process, escalate=escalate):
            continue
        assignee = await _person(session, process.assignee_user_id)
        if escalate or assignee is None or not assignee.phone:
            recipients = await gros_of(complaint.tenant_code)
        else:
            recipients = [{"user_id": assignee.id, "phone": assignee.phone,
                           "locale": assignee.locale}]
        payload = {
            "complaint_id": complaint.complaint_no,
            "tenant_code": complaint.tenant_code,
            "status": process.state,
            "type_code": complaint.type_code,
            "deadline": _iso(window.due),
            "deadline_kind": window.kind,
            "sla_due_at": _iso(complaint.sla_due_at),
            "assignee_user_id": assignee.id if assignee else None,
            "assignee_name": assignee.name if assignee else None,
            "recipients": recipients,
        }
        topic = "complaint.escalated" if escalate else "complaint.sla_warning"
        emit(session, topic, complaint.tenant_code, complaint.complaint_no, payload)
        if escalate:
            counts.escalated += 1
        else:
            counts.warned += 1
    await session.flush()
    return counts


async def sla_once(db: Database, now: datetime | None = None) -> int:
    """One sweep in its own transaction (the worker's SLA loop); how many were announced."""
    async with db.sessions() as session:
        counts = await sla_sweep(session, now or utcnow())
        await session.commit()
    if counts.warned:
        SLA_EVENTS.labels("warning").inc(counts.warned)
    if counts.escalated:
        SLA_EVENTS.labels("breach").inc(counts.escalated)
    if counts.total:
        log.info("sla_sweep", warned=counts.warned, escalated=counts.escalated)
    return counts.total
