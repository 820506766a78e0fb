"""A citizen asking for another citizen's complaint, bill, receipt or certificate (API and
chat), and employees acting outside their tenant or role: refused or masked, nothing leaks."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from core_api.certificates.models import Registration
from core_api.complaints.models import Complaint
from core_api.users.models import User
from tests.abuse.conftest import say

pytestmark = pytest.mark.reliability

SUNITA = "+919876500001"  # owns the complaint, bills and certificate request below
RAHUL = "+919876500002"  # the curious neighbour; owns the seeded receipt
RAJPUR = {"lat": 30.3779, "lng": 78.0886}
SECRET = "Pole 14 behind house 221B, gate code 4711"


async def _sunita_things(client: httpx.AsyncClient, auth: Any, session: Any) -> dict[str, str]:
    sunita = auth.service(SUNITA)
    filed = await client.post("/api/v1/complaints", headers=sunita, json={
        "type_code": "StreetLightNotWorking", "description": SECRET, **RAJPUR})
    assert filed.status_code == 201, filed.text
    bills = (await client.get("/api/v1/bills", headers=sunita)).json()
    record = Registration(
        registration_number="B-DDN-2026-99001", kind="birth", tenant_code="uk.dehradun",
        name_en="Aarav Devi", name_hi="आरव देवी", event_date=date.today(),
        place_en="Doon Hospital", place_hi="दून अस्पताल", gender="male",
        father_name="Mohan Devi", mother_name="Sunita Devi", registered_on=date.today())
    session.add(record)
    await session.commit()
    requested = await client.post("/api/v1/certificate-requests", headers=sunita, json={
        "registration_number": record.registration_number, "relation": "parent"})
    assert requested.status_code == 201, requested.text
    rahul_receipts = (await client.get("/api/v1/receipts", headers=auth.service(RAHUL))).json()
    return {"complaint": filed.json()["id"], "bill": bills[0]["bill_number"],
            "certificate": requested.json()["request_number"],
            "rahul_receipt": rahul_receipts[0]["receipt_number"]}


async def test_a_citizen_cannot_read_or_act_on_another_citizens_records_through_the_api(
        client: httpx.AsyncClient, auth: Any, session: Any, reliability: Any) -> None:
    ids = await _sunita_things(client, auth, session)
    rahul, sunita = auth.service(RAHUL), auth.service(SUNITA)
    asks = {
        "complaint": await client.get(f"/api/v1/complaints/{ids['complaint']}", headers=rahul),
        "complaint, lower case id": await client.get(
            f"/api/v1/complaints/{ids['complaint'].lower()}", headers=rahul),
        "complaint action (REOPEN)": await client.post(
            f"/api/v1/complaints/{ids['complaint']}/actions", headers=rahul,
            json={"action": "REOPEN", "comment": "mine now"}),
        "complaint photo upload": await client.post(
            f"/api/v1/complaints/{ids['complaint']}/photos", headers=rahul,
            files={"file": ("a.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 64, "image/jpeg")}),
        "bill": await client.get(f"/api/v1/bills/{ids['bill']}", headers=rahul),
        "certificate request": await client.get(
            f"/api/v1/certificate-requests/{ids['certificate']}", headers=rahul),
        "receipt (Sunita asks for Rahul's)": await client.get(
            f"/api/v1/receipts/{ids['rahul_receipt']}", headers=sunita),
    }
    statuses = {name: response.status_code for name, response in asks.items()}
    assert statuses == {name: 404 for name in asks}, {n: r.text for n, r in asks.items()}
    for response in asks.values():
        assert SECRET not in response.text and "सुनीता" not in response.text

    lists = {
        "complaints": (await client.get("/api/v1/complaints", headers=rahul)).json(),
        "certificate requests": (await client.get("/api/v1/certificate-requests",
                                                  headers=rahul)).json(),
        "receipts": (await client.get("/api/v1/receipts", headers=sunita)).json(),
    }
    assert ids["complaint"] not in str(lists["complaints"]) and SECRET not in str(lists)
    assert ids["certificate"] not in str(lists["certificate requests"])
    assert lists["receipts"] == []
    bills = (await client.get("/api/v1/bills", headers=rahul)).json()
    assert ids["bill"] not in [b["bill_number"] for b in bills]

    # The service credential without a number, a staff token with X-On-Behalf-Of, and no
    # token at all do not get a citizen's records either.
    bare = await client.get(f"/api/v1/complaints/{ids['complaint']}",
                            headers=auth.service())
    gro = await auth.staff("lme.sanitation.dehradun")
    smuggled = await client.get(f"/api/v1/complaints/{ids['complaint']}",
                                headers={**gro, "X-On-Behalf-Of": SUNITA})
    anonymous = await client.get(f"/api/v1/complaints/{ids['complaint']}")
    assert bare.status_code in (403, 404) and SECRET not in bare.text
    assert smuggled.status_code == 403 and anonymous.status_code == 401
    complaint = await session.scalar(select(Complaint).where(
        Complaint.complaint_no == ids["complaint"]))
    await session.refresh(complaint)
    assert complaint.status == "PENDINGFORASSIGNMENT" and complaint.reopen_count == 0
    reliability.record(
        area="abuse", case="A citizen asks for another citizen's records (API)",
        sent=f"{len(asks)} requests for another citizen's complaint (read, REOPEN, photo), "
             "bill, certificate request and receipt; lists; the service token without a "
             "number; a staff token with X-On-Behalf-Of; no token",
        did="404 for each (the record's existence is not revealed), lists hold only the "
            "caller's own; 403 for X-On-Behalf-Of with a staff token, 401 without a token",
        lost="nothing; no detail leaked, the complaint unchanged")


async def test_a_citizen_typing_another_citizens_numbers_in_chat_learns_nothing(
        client: httpx.AsyncClient, auth: Any, session: Any, reliability: Any) -> None:
    ids = await _sunita_things(client, auth, session)
    sent, replies = [], []

    async def rahul(text: str) -> str:
        sent.append(text)
        reply = await say(client, RAHUL, text)
        replies.append(reply)
        return reply

    await rahul("hi")
    for text in (ids["complaint"], f"track {ids['complaint']}", "status of my complaint",
                 ids["complaint"], ids["certificate"], ids["bill"], "menu", "receipts",
                 ids["rahul_receipt"].replace("RCPT", "RCPT") + "X", "menu"):
        await rahul(text)
    everything = "\n".join(replies)
    # Rahul (English) is shown his own, empty, complaint list and his own receipts.
    assert "You have not filed any complaint from this number yet." in everything
    assert "Your latest receipts." in everything
    for secret in (SECRET, "राजपुर", "Rajpur", "Aarav", "आरव", "सुनीता देवी", SUNITA,
                   SUNITA[3:]):
        assert secret not in everything, secret
    reliability.record(
        area="abuse", case="A citizen types another citizen's numbers in chat",
        sent=f"{len(sent)} chat messages from one citizen with another's complaint number "
             "(bare and with 'track'), certificate request number and bill number, and a "
             "made-up receipt number",
        did="the bot shows only the sender's own records (his empty complaint list, his "
            "own receipts to choose from); the core API refuses others' ids",
        lost="nothing; no description, place, name or number of the other citizen in any "
             "reply")


async def test_employees_cannot_act_outside_their_tenant_or_role(
        client: httpx.AsyncClient, auth: Any, session: Any, reliability: Any) -> None:
    filed = await client.post("/api/v1/complaints", headers=auth.service(SUNITA), json={
        "type_code": "StreetLightNotWorking", "description": SECRET, **RAJPUR})
    cid = filed.json()["id"]
    admin = await auth.staff("admin")
    outsider = await client.post("/api/v1/employees", headers=admin, json={
        "phone": "+919876530077", "name": "Haridwar GRO", "username": "gro.haridwar",
        "password": "haridwar-gro-password", "tenant_code": "uk.haridwar",
        "roles": [{"role": "GRO", "tenant": "uk.haridwar"}]})
    assert outsider.status_code == 201, outsider.text
    haridwar = await auth.staff("gro.haridwar", "haridwar-gro-password")
    lme_id = await session.scalar(select(User.id).where(
        User.username == "lme.electrical.dehradun"))

    async def act(headers: dict[str, str], **body: Any) -> httpx.Response:
        return await client.post(f"/api/v1/complaints/{cid}/actions", headers=headers,
                                 json=body)

    attempts = {
        "other city's GRO reads": await client.get(f"/api/v1/complaints/{cid}",
                                                   headers=haridwar),
        "other city's GRO assigns": await act(haridwar, action="ASSIGN", assignee_id=lme_id),
        "other city's GRO lists the city": await client.get(
            "/api/v1/complaints", headers=haridwar, params={"tenant": "uk.dehradun"}),
        "LME assigns (GRO's action)": await act(await auth.staff("lme.electrical.dehradun"),
                                                action="ASSIGN", assignee_id=lme_id),
        "registrar rejects a complaint": await act(await auth.staff("registrar.dehradun"),
                                                   action="REJECT", comment="no"),
        "citizen assigns": await act(auth.service(SUNITA), action="ASSIGN",
                                     assignee_id=lme_id),
        "other citizen rejects": await act(auth.service(RAHUL), action="REJECT",
                                           comment="no"),
        "employee via chat number, other tenant": await act(
            auth.service("+919876530077"), action="ASSIGN", assignee_id=lme_id),
    }
    assigned = await act(await auth.staff("gro.dehradun"), action="ASSIGN", assignee_id=lme_id)
    assert assigned.status_code == 200, assigned.text
    attempts["LME of another department resolves"] = await act(
        await auth.staff("lme.sanitation.dehradun"), action="RESOLVE", comment="done")
    attempts["other city's GRO resolves"] = await act(haridwar, action="RESOLVE")
    statuses = {name: r.status_code for name, r in attempts.items()}
    assert all(status in (403, 404) for status in statuses.values()), {
        n: (r.status_code, r.text) for n, r in attempts.items() if r.status_code not in (403, 404)}
    assert SECRET not in "".join(r.text for r in attempts.values())
    complaint = await session.scalar(select(Complaint).where(Complaint.complaint_no == cid))
    await session.refresh(complaint)
    assert (complaint.status, complaint.assignee_user_id) == ("PENDINGATLME", lme_id)
    assert await session.scalar(select(func.count()).select_from(Complaint)) == 1
    reliability.record(
        area="abuse", case="Employees acting outside their tenant or role",
        sent=f"{len(attempts)} reads/actions: another city's GRO (token and chat number), "
             "LME assigning, registrar rejecting, LME of another department resolving, "
             "citizens assigning/rejecting",
        did="each refused with 403 or 404 (" + ", ".join(
            f"{n}: {s}" for n, s in statuses.items()) + ")",
        lost="nothing; the complaint moved only by its own GRO (PENDINGATLME, assigned to "
             "the right LME)")
