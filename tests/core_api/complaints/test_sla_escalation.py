"""Escalation by levels (core_api/complaints/escalation.yaml, core_api.complaints.sla): the
GROs at the breach, the ULB's commissioner a day later, the state admin after two; each level
reminded at its interval and not before, never again once someone acts, announced once
however many sweeps run at the same moment. The clock is injected (``now``), never slept."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select, update

from core_api.complaints.escalation import load_plans, parse_plans, plan_for
from core_api.complaints.sla import sla_sweep
from core_api.events.contract import read
from core_api.events.models import OutboxEvent
from core_api.users.models import User
from core_api.workflow.models import ProcessInstance

SUNITA = "+919876500001"
GRO_PHONE, LME_PHONE = "+919876510001", "+919876510002"
COMMISSIONER_PHONE, STATE_ADMIN_PHONE = "+919876510005", "+919876519999"
MINUTE = timedelta(minutes=1)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


async def _sweep(database: Any, now: datetime) -> tuple[int, int, int]:
    """One sweep in its own transaction: (warned, levels reached, reminders)."""
    async with database.sessions() as session:
        counts = await sla_sweep(session, now)
        await session.commit()
    return counts.warned, counts.escalated, counts.reminded


async def _file(client: Any, auth: Any) -> str:
    filed = await client.post("/api/v1/complaints", headers=await auth.staff("gro.dehradun"),
                              json={"type_code": "StreetLightNotWorking",
                                    "tenant_code": "uk.dehradun", "lat": 30.378, "lng": 78.089,
                                    "citizen_phone": SUNITA})
    assert filed.status_code == 201, filed.text
    return filed.json()["id"]


async def _process(database: Any, number: str) -> ProcessInstance:
    async with database.sessions() as session:
        process = await session.scalar(select(ProcessInstance).where(
            ProcessInstance.business_service == "PGR", ProcessInstance.business_id == number))
        assert process is not None
        return process


async def _escalations(database: Any, number: str) -> list[dict[str, Any]]:
    """The complaint.escalated payloads of ``number``, oldest first, read as the notifier
    reads them (the contract)."""
    async with database.sessions() as session:
        rows = await session.scalars(
            select(OutboxEvent).where(OutboxEvent.aggregate_id == number,
                                      OutboxEvent.topic == "complaint.escalated")
            .order_by(OutboxEvent.id))
        return [{**row.payload, **read(row.topic, row.payload).model_dump()} for row in rows]


async def _last(database: Any, number: str, topic: str) -> dict[str, Any]:
    async with database.sessions() as session:
        row = await session.scalar(
            select(OutboxEvent).where(OutboxEvent.aggregate_id == number,
                                      OutboxEvent.topic == topic)
            .order_by(OutboxEvent.id.desc()).limit(1))
        assert row is not None
        return row.payload


def _said(event: dict[str, Any]) -> tuple[int, str, int, list[str]]:
    return (event["level"], event["level_name"], event["repeat"],
            [person["phone"] for person in event["recipients"]])


async def test_levels_climb_in_order_and_each_is_reminded_at_its_interval(
        client, auth, database):
    number = await _file(client, auth)
    breach = (await _process(database, number)).state_sla_due_at  # the GRO's 24 hours
    timeline = [
        (breach - MINUTE, (1, 0, 0)),  # the 80% warning, not yet breached
        (breach + MINUTE, (0, 1, 0)),  # level 1: the GROs
        (breach + hours(11), (0, 0, 0)),  # no reminder before 12 hours
        (breach + hours(12) + MINUTE, (0, 0, 1)),  # the GROs reminded
        (breach + hours(23), (0, 0, 0)),
        (breach + hours(24) + MINUTE, (0, 1, 0)),  # level 2: the commissioner
        (breach + hours(30), (0, 0, 0)),
        (breach + hours(36) + MINUTE, (0, 0, 1)),
        (breach + hours(48) + MINUTE, (0, 1, 0)),  # level 3: the state admin
        (breach + hours(60) + MINUTE, (0, 0, 0)),  # the state admin: every 24 hours
        (breach + hours(72) + MINUTE, (0, 0, 1)),
        (breach + hours(96) + 2 * MINUTE, (0, 0, 1)),
        (breach + hours(100), (0, 0, 0)),
    ]
    for now, expected in timeline:
        assert await _sweep(database, now) == expected, now - breach
    assert [_said(e) for e in await _escalations(database, number)] == [
        (1, "gro", 0, [GRO_PHONE]),
        (1, "gro", 1, [GRO_PHONE]),
        (2, "ulb_admin", 0, [COMMISSIONER_PHONE]),
        (2, "ulb_admin", 1, [COMMISSIONER_PHONE]),
        (3, "state_admin", 0, [STATE_ADMIN_PHONE]),
        (3, "state_admin", 1, [STATE_ADMIN_PHONE]),
        (3, "state_admin", 2, [STATE_ADMIN_PHONE]),
    ]
    first = (await _escalations(database, number))[0]
    assert (first["status"], first["deadline_kind"]) == ("PENDINGFORASSIGNMENT", "state")
    assert datetime.fromisoformat(first["deadline"]) == breach
    process = await _process(database, number)
    assert (process.escalation_level, process.escalated, process.escalated_at) == (
        3, True, breach + hours(96) + 2 * MINUTE)


async def test_a_late_sweep_goes_straight_to_the_level_due(client, auth, database):
    number = await _file(client, auth)
    breach = (await _process(database, number)).state_sla_due_at
    assert await _sweep(database, breach + hours(50)) == (0, 1, 0)  # the worker was down
    assert await _sweep(database, breach + hours(60)) == (0, 0, 0)  # 24 h from this one
    assert await _sweep(database, breach + hours(74) + MINUTE) == (0, 0, 1)
    assert [_said(e) for e in await _escalations(database, number)] == [
        (3, "state_admin", 0, [STATE_ADMIN_PHONE]), (3, "state_admin", 1, [STATE_ADMIN_PHONE])]


async def test_once_someone_acts_the_reminders_stop_and_the_levels_start_again(
        client, auth, database):
    number = await _file(client, auth)
    process = await _process(database, number)
    breach, complaint_due = process.state_sla_due_at, process.sla_due_at  # 24 h; 72 h
    assert await _sweep(database, breach + MINUTE) == (0, 1, 0)
    assert await _sweep(database, breach + hours(24) + MINUTE) == (0, 1, 0)  # commissioner
    gro = await auth.staff("gro.dehradun")
    lmes = (await client.get("/api/v1/employees", headers=gro, params={
        "tenant": "uk.dehradun", "role": "LME", "department": "DEPT_STREETLIGHT"})).json()
    assigned = await client.post(f"/api/v1/complaints/{number}/actions", headers=gro,
                                 json={"action": "ASSIGN", "assignee_id": lmes[0]["id"]})
    assert assigned.status_code == 200, assigned.text
    process = await _process(database, number)
    assert (process.escalation_level, process.escalated_at, process.escalated) == (
        0, None, False)
    # The commissioner's reminder time passes without a reminder; the LME's own deadline
    # (the complaint's 72 hours) brings its warning, then the first level again.
    assert await _sweep(database, breach + hours(36) + MINUTE) == (1, 0, 0)  # to the LME
    assert await _sweep(database, complaint_due - MINUTE) == (0, 0, 0)
    assert await _sweep(database, complaint_due + MINUTE) == (0, 1, 0)
    warning = await _last(database, number, "complaint.sla_warning")
    assert [r["phone"] for r in warning["recipients"]] == [LME_PHONE]
    escalations = await _escalations(database, number)
    assert [_said(e) for e in escalations] == [
        (1, "gro", 0, [GRO_PHONE]), (2, "ulb_admin", 0, [COMMISSIONER_PHONE]),
        (1, "gro", 0, [GRO_PHONE])]
    assert (escalations[-1]["status"], escalations[-1]["assignee_name"]) == (
        "PENDINGATLME", "Ramesh Negi")
    assert datetime.fromisoformat(escalations[-1]["deadline"]) == complaint_due

    # Resolved: the citizen's turn; no level and no reminder for staff any more.
    resolved = await client.post(f"/api/v1/complaints/{number}/actions",
                                 headers=await auth.staff("lme.electrical.dehradun"),
                                 json={"action": "RESOLVE", "comment": "Bulb replaced"})
    assert resolved.status_code == 200, resolved.text
    for later in (hours(12), hours(24), hours(48), hours(200)):
        assert await _sweep(database, complaint_due + later + MINUTE) == (0, 0, 0)
    assert len(await _escalations(database, number)) == 3


async def test_sweeps_at_the_same_moment_announce_a_level_and_a_reminder_once(
        client, auth, database):
    numbers = [await _file(client, auth) for _ in range(2)]
    breach = max([(await _process(database, n)).state_sla_due_at for n in numbers])
    for now, expected in ((breach + MINUTE, [0, 2, 0]),  # level 1 for both
                          (breach + hours(12) + 2 * MINUTE, [0, 0, 2]),  # reminders
                          (breach + hours(24) + 2 * MINUTE, [0, 2, 0])):  # level 2
        results = await asyncio.gather(*(_sweep(database, now) for _ in range(3)))
        assert [sum(r[i] for r in results) for i in range(3)] == expected, results
    for number in numbers:
        assert [_said(e)[:3] for e in await _escalations(database, number)] == [
            (1, "gro", 0), (1, "gro", 1), (2, "ulb_admin", 0)]


async def test_a_vacant_level_is_told_to_the_next_level_up(client, auth, database):
    number = await _file(client, auth)
    breach = (await _process(database, number)).state_sla_due_at
    async with database.sessions() as session:  # the commissioner's post is vacant
        await session.execute(update(User).where(User.phone == COMMISSIONER_PHONE)
                              .values(active=False))
        await session.commit()
    assert await _sweep(database, breach + MINUTE) == (0, 1, 0)
    assert await _sweep(database, breach + hours(24) + MINUTE) == (0, 1, 0)
    assert [_said(e) for e in await _escalations(database, number)] == [
        (1, "gro", 0, [GRO_PHONE]), (2, "ulb_admin", 0, [STATE_ADMIN_PHONE])]


def test_the_bundled_plan_and_broken_plans():
    plan = plan_for("PGR")
    assert [(lv.name, lv.after_hours, lv.repeat_hours, lv.to.role, lv.to.grant)
            for lv in plan.levels] == [
        ("gro", 0, 12, "GRO", "ulb_or_state"), ("ulb_admin", 24, 12, "ADMIN", "ulb"),
        ("state_admin", 48, 24, "ADMIN", "state")]
    assert plan.levels[2].to.tenants("uk.dehradun") == ["uk"]
    assert plan.levels[0].to.tenants("uk.dehradun") == ["uk", "uk.dehradun"]
    level = {"name": "gro", "after_hours": 0, "to": {"role": "GRO", "grant": "ulb"}}
    assert parse_plans({"PGR": [level]})["PGR"].levels[0].repeat_hours is None
    for broken, message in (
        ([level, {**level, "name": "eo"}], "after_hours must increase"),
        ([{**level, "to": {"role": "MAYOR", "grant": "ulb"}}], "role"),
        ([{**level, "to": {"role": "GRO", "grant": "district"}}], "grant"),
        ([{**level, "repeat_hours": 0}], "greater than 0"),
        ([], "at least 1"),
    ):
        with pytest.raises(ValidationError, match=message):
            parse_plans({"PGR": broken})
    with pytest.raises(KeyError):
        plan_for("BND-CERT")


def test_a_deployment_names_its_own_escalation_file(tmp_path):
    own = tmp_path / "escalation.yaml"
    own.write_text("PGR:\n  - {name: gro, after_hours: 2, repeat_hours: 6,"
                   " to: {role: GRO, grant: ulb}}\n", encoding="utf-8")
    plan = plan_for("PGR", own)
    assert [(lv.name, lv.after_hours, lv.repeat_hours) for lv in plan.levels] == [
        ("gro", 2, 6)]
    assert load_plans(None) is load_plans(None)  # parsed once per file
