"""Auto-close (core_api.complaints.sla.auto_close_sweep): a resolution the citizen leaves
unanswered for SAMVAD_AUTO_CLOSE_DAYS is closed by the system (AUTOCLOSE), marked
``auto_closed``, and the citizen is told; never before the days are up, never when the
citizen rated or reopened it, once however many sweeps run. The clock is injected."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.notifier import notifications_for
from core_api.complaints.models import Complaint
from core_api.complaints.sla import auto_close_sweep, sla_once
from core_api.db import utcnow
from core_api.events.models import OutboxEvent
from core_api.workflow.models import ProcessHistory, ProcessInstance

SUNITA = "+919876500001"
RAJPUR_PIN = {"lat": 30.3781, "lng": 78.0892}
WEEK = timedelta(days=7)
MINUTE = timedelta(minutes=1)


async def _resolved(client: Any, auth: Any) -> str:
    """A complaint of Sunita's, filed over WhatsApp, assigned and resolved (now)."""
    filed = await client.post("/api/v1/complaints", headers=auth.service(SUNITA), json={
        "type_code": "StreetLightNotWorking", "description": "Pole 14 dark",
        "source": "whatsapp", **RAJPUR_PIN})
    assert filed.status_code == 201, filed.text
    number = filed.json()["id"]
    gro = await auth.staff("gro.dehradun")
    lmes = (await client.get("/api/v1/employees", headers=gro, params={
        "tenant": "uk.dehradun", "role": "LME", "department": "DEPT_STREETLIGHT"})).json()
    for headers, body in ((gro, {"action": "ASSIGN", "assignee_id": lmes[0]["id"]}),
                          (await auth.staff("lme.electrical.dehradun"),
                           {"action": "RESOLVE", "comment": "Bulb replaced"})):
        acted = await client.post(f"/api/v1/complaints/{number}/actions", headers=headers,
                                  json=body)
        assert acted.status_code == 200, acted.text
    return number


async def _citizen(client: Any, auth: Any, number: str, **body: Any) -> None:
    acted = await client.post(f"/api/v1/complaints/{number}/actions",
                              headers=auth.service(SUNITA), json=body)
    assert acted.status_code == 200, acted.text


async def _close(database: Any, now: datetime, days: int = 7, batch: int = 200) -> int:
    async with database.sessions() as session:
        closed = await auto_close_sweep(session, now, days, batch=batch)
        await session.commit()
    return closed


async def _resolved_at(database: Any, number: str) -> datetime:
    async with database.sessions() as session:
        process = await session.scalar(select(ProcessInstance).where(
            ProcessInstance.business_id == number))
        assert process is not None and process.state == "RESOLVED"
        return process.updated_at


async def _complaint(database: Any, number: str) -> Complaint:
    async with database.sessions() as session:
        complaint = await session.scalar(select(Complaint).where(
            Complaint.complaint_no == number))
        assert complaint is not None
        return complaint


async def _closings(database: Any, number: str) -> list[OutboxEvent]:
    """The complaint.status_changed events of the system's AUTOCLOSE."""
    async with database.sessions() as session:
        rows = await session.scalars(select(OutboxEvent).where(
            OutboxEvent.aggregate_id == number, OutboxEvent.topic == "complaint.status_changed")
            .order_by(OutboxEvent.id))
        return [row for row in rows if row.payload["action"] == "AUTOCLOSE"]


async def test_an_unanswered_resolution_is_closed_after_the_days_and_the_citizen_told(
        client, auth, database):
    number = await _resolved(client, auth)
    resolved_at = await _resolved_at(database, number)
    assert await _close(database, resolved_at + WEEK - MINUTE) == 0  # not before 7 days
    assert (await _complaint(database, number)).status == "RESOLVED"
    assert await _close(database, resolved_at + WEEK + MINUTE) == 1
    assert await _close(database, resolved_at + WEEK * 4) == 0  # closed once

    complaint = await _complaint(database, number)
    assert (complaint.status, complaint.auto_closed, complaint.rating) == (
        "CLOSEDAFTERRESOLUTION", True, None)
    async with database.sessions() as session:
        last = await session.scalar(
            select(ProcessHistory).join(ProcessInstance)
            .where(ProcessInstance.business_id == number)
            .order_by(ProcessHistory.id.desc()).limit(1))
        assert last is not None
        assert (last.action, last.from_state, last.to_state, last.actor_role,
                last.actor_user_id) == (
            "AUTOCLOSE", "RESOLVED", "CLOSEDAFTERRESOLUTION", "SYSTEM", None)
    [event] = await _closings(database, number)
    assert (event.payload["status"], event.payload["previous_status"],
            event.payload["citizen_phone"], event.payload["channel"]) == (
        "CLOSEDAFTERRESOLUTION", "RESOLVED", SUNITA, "whatsapp")
    [told] = notifications_for(str(event.id), event.topic, event.payload)
    assert (told.phone, told.locale, told.kind) == (SUNITA, "hi_IN", "complaint_update")
    assert number in told.message.text


async def test_no_auto_close_once_the_citizen_rated_or_reopened(client, auth, database):
    rated, reopened = await _resolved(client, auth), await _resolved(client, auth)
    await _citizen(client, auth, rated, action="RATE", rating=5)
    await _citizen(client, auth, reopened, action="REOPEN", comment="Still dark at night")
    assert await _close(database, utcnow() + WEEK * 5) == 0
    assert ((await _complaint(database, rated)).status,
            (await _complaint(database, rated)).auto_closed) == ("CLOSEDAFTERRESOLUTION", False)
    assert (await _complaint(database, reopened)).status == "PENDINGFORASSIGNMENT"
    assert await _closings(database, rated) == [] and await _closings(database, reopened) == []


async def test_sweeps_close_in_bounded_batches_and_once_when_run_together(
        client, auth, database):
    numbers = [await _resolved(client, auth) for _ in range(3)]
    late = max([await _resolved_at(database, n) for n in numbers]) + WEEK + MINUTE
    assert await _close(database, late, batch=1) == 1  # the oldest resolution first
    assert (await _complaint(database, numbers[0])).auto_closed
    assert not (await _complaint(database, numbers[1])).auto_closed
    results = await asyncio.gather(*(_close(database, late) for _ in range(3)))
    assert sum(results) == 2
    for number in numbers:
        assert len(await _closings(database, number)) == 1


async def test_the_worker_step_closes_with_the_configured_days(client, auth, database):
    number = await _resolved(client, auth)
    resolved_at = await _resolved_at(database, number)
    assert await sla_once(database, resolved_at + WEEK * 10, auto_close_days=0) == 0  # off
    assert await sla_once(database, resolved_at + timedelta(days=2) + MINUTE,
                          auto_close_days=2) == 1
    assert (await _complaint(database, number)).auto_closed
