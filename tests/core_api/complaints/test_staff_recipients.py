"""A complaint sent back by the LME names the GROs who must assign it again: active GROs
whose grant covers its city (a state grant covers every city), in their language."""

from __future__ import annotations

from sqlalchemy import select

from bot.notifier import notifications_for
from core_api.events.models import OutboxEvent
from core_api.users.models import User, UserKind, UserRole

SUNITA = "+919876500001"


def _employee(phone: str, name: str, locale: str, tenant: str, active: bool = True) -> User:
    return User(kind=UserKind.EMPLOYEE, phone=phone, name=name, locale=locale,
                tenant_code=tenant, active=active, roles=[UserRole(role="GRO", tenant_code=tenant)])


async def test_a_sent_back_complaint_names_the_gros_of_its_city(client, auth, session):
    session.add_all([
        _employee("+919876518881", "State GRO", "en_IN", "uk"),
        _employee("+919876518882", "Former GRO", "hi_IN", "uk.dehradun", active=False),
        _employee("+919876518883", "Haridwar GRO", "hi_IN", "uk.haridwar"),
    ])
    await session.commit()
    gro = await auth.staff("gro.dehradun")
    filed = await client.post("/api/v1/complaints", headers=gro, json={
        "type_code": "StreetLightNotWorking", "tenant_code": "uk.dehradun", "lat": 30.378,
        "lng": 78.089, "citizen_phone": SUNITA})
    number = filed.json()["id"]
    lmes = (await client.get("/api/v1/employees", headers=gro, params={
        "tenant": "uk.dehradun", "role": "LME", "department": "DEPT_STREETLIGHT"})).json()
    for headers, body in (
        (gro, {"action": "ASSIGN", "assignee_id": lmes[0]["id"]}),
        (await auth.staff("lme.electrical.dehradun"),
         {"action": "REASSIGN", "comment": "Needs a new pole"}),
    ):
        response = await client.post(f"/api/v1/complaints/{number}/actions", headers=headers,
                                     json=body)
        assert response.status_code == 200, response.text

    events = list(await session.scalars(
        select(OutboxEvent).where(OutboxEvent.aggregate_id == number,
                                  OutboxEvent.topic == "complaint.status_changed")
        .order_by(OutboxEvent.id)))
    assert [e.payload["status"] for e in events] == [
        "PENDINGFORASSIGNMENT", "PENDINGATLME", "PENDINGFORREASSIGNMENT"]
    # Filed: the GROs of the streetlight department or of none (the state GRO; the city's
    # GRO sits in DEPT_ADMIN). Assigned: nobody but the LME.
    assert [g["phone"] for g in events[0].payload["gros"]] == ["+919876518881"]
    assert "gros" not in events[1].payload
    returned = events[2].payload
    assert [(g["phone"], g["locale"]) for g in returned["gros"]] == [
        ("+919876510001", "hi_IN"), ("+919876518881", "en_IN")]

    sent = notifications_for(events[2].event_id, events[2].topic, returned)
    assert [(n.phone, n.kind) for n in sent] == [
        (SUNITA, "complaint_update"), ("+919876510001", "task_returned"),
        ("+919876518881", "task_returned")]
    assert sent[2].message.text == (f"Complaint {number} was sent back for reassignment: "
                                    "Needs a new pole. Send MENU to assign it.")
