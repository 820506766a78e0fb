"""SLA timers (core_api.complaints.sla): a warning once at 80% of the deadline, the first
escalation level once after it (reminders and higher levels: test_sla_escalation.py), each
state visit anew; the events carry their recipients."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from core_api.complaints.sla import sla_once, sla_sweep
from core_api.events.models import OutboxEvent
from core_api.workflow.models import ProcessInstance

SUNITA = "+919876500001"
GRO_PHONE, LME_PHONE = "+919876510001", "+919876510002"
SLA_TOPICS = ("complaint.sla_warning", "complaint.escalated")


async def _sweep(database: Any, now: datetime) -> tuple[int, int, int]:
    """One sweep in its own transaction, as the worker runs it: (warned, escalated,
    reminded)."""
    async with database.sessions() as session:
        counts = await sla_sweep(session, now)
        await session.commit()
    return counts.warned, counts.escalated, counts.reminded


async def _process(database: Any, number: str) -> ProcessInstance:
    async with database.sessions() as session:
        process = await session.scalar(select(ProcessInstance).where(
            ProcessInstance.business_service == "PGR", ProcessInstance.business_id == number))
        assert process is not None
        return process


async def _sla_events(database: Any, number: str) -> list[OutboxEvent]:
    async with database.sessions() as session:
        return list(await session.scalars(
            select(OutboxEvent).where(OutboxEvent.aggregate_id == number,
                                      OutboxEvent.topic.in_(SLA_TOPICS))
            .order_by(OutboxEvent.id)))


async def test_warning_and_escalation_come_once_per_state_visit(client, auth, database):
    gro = await auth.staff("gro.dehradun")
    filed = await client.post("/api/v1/complaints", headers=gro, json={
        "type_code": "StreetLightNotWorking", "tenant_code": "uk.dehradun", "lat": 30.378,
        "lng": 78.089, "citizen_phone": SUNITA})
    assert filed.status_code == 201, filed.text
    number = filed.json()["id"]
    process = await _process(database, number)
    # Waiting for assignment: the GRO's 24 hours apply (the complaint itself has 72).
    filed_at = process.sla_due_at - timedelta(hours=72)
    assert process.state_sla_due_at - filed_at < timedelta(hours=24, seconds=1)

    assert await _sweep(database, filed_at + timedelta(hours=19)) == (0, 0, 0)  # 79% used
    assert await _sweep(database, filed_at + timedelta(hours=19, minutes=30)) == (1, 0, 0)
    assert await _sweep(database, filed_at + timedelta(hours=23)) == (0, 0, 0)  # warned once
    assert await _sweep(database, filed_at + timedelta(hours=24, minutes=1)) == (0, 1, 0)
    assert await _sweep(database, filed_at + timedelta(hours=30)) == (0, 0, 0)  # escalated once
    warning, escalation = await _sla_events(database, number)
    assert warning.topic == "complaint.sla_warning"
    assert (warning.payload["status"], warning.payload["deadline_kind"]) == (
        "PENDINGFORASSIGNMENT", "state")
    assert datetime.fromisoformat(warning.payload["deadline"]) == process.state_sla_due_at
    assert warning.payload["assignee_user_id"] is None  # nobody assigned: the GROs hear
    assert [(r["phone"], r["locale"]) for r in warning.payload["recipients"]] == [
        (GRO_PHONE, "hi_IN")]
    assert escalation.topic == "complaint.escalated"
    assert [r["phone"] for r in escalation.payload["recipients"]] == [GRO_PHONE]
    assert (escalation.payload["level"], escalation.payload["level_name"],
            escalation.payload["repeat"]) == (1, "gro", 0)
    process = await _process(database, number)
    assert (process.sla_warned, process.escalated, process.escalation_level) == (True, True, 1)

    # Assigned: a new state visit. PENDINGATLME has no state SLA, so the complaint's 72 h
    # (from filing) apply; the warning goes to the assignee, the escalation to the GROs.
    lmes = (await client.get("/api/v1/employees", headers=gro, params={
        "tenant": "uk.dehradun", "role": "LME", "department": "DEPT_STREETLIGHT"})).json()
    assigned = await client.post(f"/api/v1/complaints/{number}/actions", headers=gro,
                                 json={"action": "ASSIGN", "assignee_id": lmes[0]["id"]})
    assert assigned.status_code == 200, assigned.text
    process = await _process(database, number)
    assert (process.sla_warned, process.escalated, process.escalation_level,
            process.escalated_at, process.state_sla_due_at) == (False, False, 0, None, None)
    assert await _sweep(database, filed_at + timedelta(hours=57)) == (0, 0, 0)  # 79%
    assert await _sweep(database, filed_at + timedelta(hours=58)) == (1, 0, 0)
    assert await _sweep(database, filed_at + timedelta(hours=60)) == (0, 0, 0)
    assert await _sweep(database, filed_at + timedelta(hours=72, minutes=1)) == (0, 1, 0)
    assert await _sweep(database, filed_at + timedelta(hours=84)) == (0, 0, 0)  # not yet 12 h
    *_, warning, escalation = await _sla_events(database, number)
    assert (warning.payload["deadline_kind"], warning.payload["assignee_name"]) == (
        "complaint", "Ramesh Negi")
    assert datetime.fromisoformat(warning.payload["deadline"]) == process.sla_due_at
    assert [r["phone"] for r in warning.payload["recipients"]] == [LME_PHONE]
    assert [r["phone"] for r in escalation.payload["recipients"]] == [GRO_PHONE]
    assert escalation.payload["assignee_name"] == "Ramesh Negi"

    # Resolved: the citizen's turn; no timer runs for staff any more.
    resolved = await client.post(f"/api/v1/complaints/{number}/actions",
                                 headers=await auth.staff("lme.electrical.dehradun"),
                                 json={"action": "RESOLVE", "comment": "Bulb replaced"})
    assert resolved.status_code == 200, resolved.text
    assert await _sweep(database, filed_at + timedelta(days=30)) == (0, 0, 0)
    assert len(await _sla_events(database, number)) == 4


async def test_sweeps_at_the_same_time_announce_a_deadline_once(client, auth, database):
    gro = await auth.staff("gro.dehradun")
    numbers = []
    for code in ("BurningOfGarbage", "DeadAnimals"):
        filed = await client.post("/api/v1/complaints", headers=gro, json={
            "type_code": code, "tenant_code": "uk.dehradun", "lat": 30.378, "lng": 78.089,
            "citizen_phone": SUNITA})
        assert filed.status_code == 201, filed.text
        numbers.append(filed.json()["id"])
    assert await sla_once(database) == 0  # the worker's step: nothing is near a deadline yet
    breached = (await _process(database, numbers[0])).created_at + timedelta(days=3)
    results = await asyncio.gather(*(_sweep(database, breached) for _ in range(3)))
    assert sum(escalated for _warned, escalated, _reminded in results) == 2
    assert sum(warned for warned, *_ in results) == 0  # straight to escalation
    for number in numbers:
        [event] = await _sla_events(database, number)
        assert event.topic == "complaint.escalated"
