"""Issue 17, the complaint side of the events: the channel a complaint was filed on, its
locality, the GROs of its department, the LME's resolution photo as a signed link, and the
GRO's re-routing of a complaint filed under the wrong type (``complaint.recategorised``).

Every payload is checked against the event contract (core_api.events.contract)."""

from __future__ import annotations

import io
from urllib.parse import urlsplit

from PIL import Image
from sqlalchemy import select

from core_api.complaints.models import ComplaintType
from core_api.users.models import User, UserKind, UserRole
from tests.event_examples import published

SUNITA, RAHUL = "+919876500001", "+919876500002"
CITY_GRO = "+919876510001"  # gro.dehradun (Meena Rawat), department DEPT_ADMIN
RAJPUR_PIN = {"lat": 30.3781, "lng": 78.0892}
STREETLIGHT_GRO, SANITATION_GRO, STATE_GRO = "+919876518801", "+919876518802", "+919876518803"
HARIDWAR_GRO = "+919876518804"


def _gro(phone: str, locale: str, tenant: str, department: str | None, *,
         active: bool = True) -> User:
    return User(kind=UserKind.EMPLOYEE, phone=phone, name=f"GRO {phone[-4:]}", locale=locale,
                tenant_code=tenant, department=department, active=active,
                roles=[UserRole(role="GRO", tenant_code=tenant)])


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (10, 6), (30, 90, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


async def _user_id(session, username: str) -> int:
    return await session.scalar(select(User.id).where(User.username == username))


async def _file(client, headers, **body):
    body.setdefault("type_code", "StreetLightNotWorking")
    body.update(RAJPUR_PIN)
    filed = await client.post("/api/v1/complaints", json=body, headers=headers)
    assert filed.status_code == 201, filed.text
    return filed.json()["id"]


async def _act(client, headers, number, **body):
    return await client.post(f"/api/v1/complaints/{number}/actions", json=body,
                             headers=headers)


async def _recategorise(client, headers, number, type_code, comment=None):
    return await client.post(f"/api/v1/complaints/{number}/category", headers=headers,
                             json={"type_code": type_code, "comment": comment})


def _phones(people: list[dict]) -> list[str]:
    return [person["phone"] for person in people]


async def test_a_new_complaint_names_its_channel_locality_and_department_gros(
        client, auth, session):
    session.add_all([
        _gro(STREETLIGHT_GRO, "en_IN", "uk.dehradun", "DEPT_STREETLIGHT"),
        _gro(SANITATION_GRO, "hi_IN", "uk.dehradun", "DEPT_SANITATION"),
        _gro(STATE_GRO, "pa_IN", "uk", None),  # every department, every city of the state
        _gro("+919876518805", "en_IN", "uk.dehradun", "DEPT_STREETLIGHT", active=False),
        _gro(HARIDWAR_GRO, "hi_IN", "uk.haridwar", "DEPT_STREETLIGHT"),
    ])
    await session.commit()

    by_sms = await _file(client, auth.service(SUNITA), source="sms")
    [created] = await published(session, by_sms, "complaint.created")
    [applied] = await published(session, by_sms, "complaint.status_changed")
    for event in (created, applied):
        assert (event["channel"], event["locality"], event["action"]) == ("sms", "Rajpur",
                                                                          "APPLY")
        assert _phones(event["gros"]) == [STREETLIGHT_GRO, STATE_GRO]
        assert [g["locale"] for g in event["gros"]] == ["en_IN", "pa_IN"]
        assert "photo_urls" not in event
    assert created["source"] == "sms" and created["locality_id"] is not None

    # Filed at the counter (CSR) for garbage: no chat channel, the sanitation GROs.
    at_counter = await _file(client, await auth.staff("gro.dehradun"),
                             type_code="GarbageNeedsTobeCleared", citizen_phone=RAHUL)
    [created] = await published(session, at_counter, "complaint.created")
    assert (created["source"], created["channel"]) == ("csr", None)
    assert _phones(created["gros"]) == [SANITATION_GRO, STATE_GRO]

    # Over the web: not a chat channel either.
    on_web = await _file(client, auth.service(RAHUL), source="web")
    [applied] = await published(session, on_web, "complaint.status_changed")
    assert applied["channel"] is None and applied["locality"] == "Rajpur"


async def test_a_city_without_gros_of_the_department_tells_all_its_gros(client, auth,
                                                                         session):
    # The demo city has one GRO, in DEPT_ADMIN: a water complaint must still reach her.
    number = await _file(client, auth.service(SUNITA), type_code="NoWaterSupply",
                         source="whatsapp")
    [created] = await published(session, number, "complaint.created")
    assert created["channel"] == "whatsapp"
    assert [(g["phone"], g["locale"]) for g in created["gros"]] == [(CITY_GRO, "hi_IN")]


async def test_the_resolution_photo_reaches_the_event_as_a_signed_link(client, auth, session,
                                                                       settings):
    citizen = auth.service(SUNITA)
    electrician = await auth.staff("lme.electrical.dehradun")
    number = await _file(client, citizen, source="whatsapp")
    own = await client.post(f"/api/v1/complaints/{number}/photos", headers=citizen,
                            files={"file": ("pole.png", _png(), "image/png")})
    assert own.status_code == 201, own.text
    assigned = await _act(client, await auth.staff("gro.dehradun"), number, action="ASSIGN",
                          assignee_id=await _user_id(session, "lme.electrical.dehradun"))
    assert assigned.status_code == 200, assigned.text
    fixed = await client.post(f"/api/v1/complaints/{number}/photos", headers=electrician,
                              files={"file": ("fixed.png", _png(), "image/png")})
    assert fixed.status_code == 201, fixed.text
    resolved = await _act(client, electrician, number, action="RESOLVE",
                          comment="Bulb replaced", photos=[fixed.json()["key"]])
    assert resolved.status_code == 200, resolved.text

    changes = await published(session, number, "complaint.status_changed")
    assert [c["action"] for c in changes] == ["APPLY", "ASSIGN", "RESOLVE"]
    assert all("photo_urls" not in c for c in changes[:2])
    resolution = changes[2]
    assert (resolution["channel"], resolution["locality"]) == ("whatsapp", "Rajpur")
    [link] = resolution["photo_urls"]  # the LME's photo, not the citizen's own
    parts = urlsplit(link)
    assert link.startswith(f"{settings.public_url}/files/") and "sig=" in parts.query
    assert fixed.json()["key"] in parts.path and own.json()["key"] not in parts.path
    download = await client.get(f"{parts.path}?{parts.query}")  # no login: the citizen's link
    assert download.status_code == 200 and download.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(download.content)).size == (10, 6)
    other_file = parts.path.replace(fixed.json()["key"], own.json()["key"])
    assert (await client.get(f"{other_file}?{parts.query}")).status_code == 403  # per file


async def test_a_gro_reroutes_an_open_complaint_to_another_department(client, auth, session):
    session.add_all([
        _gro(SANITATION_GRO, "hi_IN", "uk.dehradun", "DEPT_SANITATION"),
        _gro(HARIDWAR_GRO, "hi_IN", "uk.haridwar", None),
    ])
    (await session.get(ComplaintType, "NoStreetLight")).active = False
    await session.commit()
    citizen = auth.service(SUNITA)
    gro = await auth.staff("gro.dehradun")
    electrician = await auth.staff("lme.electrical.dehradun")
    sweeper = await auth.staff("lme.sanitation.dehradun")
    number = await _file(client, citizen, source="sms", description="Garbage under the pole")
    before = (await client.get(f"/api/v1/complaints/{number}", headers=gro)).json()

    refusals = [
        (citizen, "GarbageNeedsTobeCleared", 403, "role_forbidden"),  # the owner
        (electrician, "GarbageNeedsTobeCleared", 403, "role_forbidden"),  # an LME of the city
        (auth.service(HARIDWAR_GRO), "GarbageNeedsTobeCleared", 404, "complaint_not_found"),
        (auth.service(RAHUL), "GarbageNeedsTobeCleared", 404, "complaint_not_found"),
        (gro, "NoSuchType", 422, "unknown_complaint_type"),
        (gro, "NoStreetLight", 422, "unknown_complaint_type"),  # inactive
        (gro, "StreetLightNotWorking", 422, "same_complaint_type"),
    ]
    for headers, type_code, status, code in refusals:
        refused = await _recategorise(client, headers, number, type_code)
        assert (refused.status_code, refused.json()["error"]["code"]) == (status, code), code
    missing = await client.post(f"/api/v1/complaints/{number}/category", headers=gro,
                                json={"comment": "no type"})
    assert missing.status_code == 422
    assert await published(session, number, "complaint.recategorised") == []

    moved = await _recategorise(client, gro, number, "GarbageNeedsTobeCleared",
                                "  Garbage, not a light  ")
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert (body["type"]["code"], body["type"]["department_code"]) == (
        "GarbageNeedsTobeCleared", "DEPT_SANITATION")
    assert (body["status"], body["assignee"]) == ("PENDINGFORASSIGNMENT", None)
    assert body["sla_due_at"] == before["sla_due_at"]  # the citizen's promise stands
    step = body["history"][-1]
    assert (step["action"], step["from_state"], step["to_state"], step["actor_role"],
            step["actor"]["name"], step["comment"], step["from_type_code"],
            step["type_code"], step["photos"]) == (
        "RECATEGORISE", "PENDINGFORASSIGNMENT", "PENDINGFORASSIGNMENT", "GRO", "Meena Rawat",
        "Garbage, not a light", "StreetLightNotWorking", "GarbageNeedsTobeCleared", [])
    assert body["history"][0]["type_code"] is None  # other steps change no type
    mine = (await client.get(f"/api/v1/complaints/{number}", headers=citizen)).json()
    assert [h["action"] for h in mine["history"]] == ["APPLY", "RECATEGORISE"]
    assert mine["type"]["code"] == "GarbageNeedsTobeCleared"

    [event] = await published(session, number, "complaint.recategorised")
    names = ("gros", "from_type_names", "type_names", "locality_names")
    assert (event["from_type_names"]["hi"], event["type_names"]["en"],
            event["locality_names"]["hi"]) == (
        "स्ट्रीट लाइट खराब है", "Garbage not cleared", "राजपुर")
    assert {k: v for k, v in event.items() if k not in names} == {
        "complaint_id": number, "tenant_code": "uk.dehradun", "status": "PENDINGFORASSIGNMENT",
        "from_type_code": "StreetLightNotWorking", "type_code": "GarbageNeedsTobeCleared",
        "comment": "Garbage, not a light", "actor_user_id": await _user_id(
            session, "gro.dehradun"), "locality": "Rajpur"}
    assert [(g["phone"], g["locale"]) for g in event["gros"]] == [(SANITATION_GRO, "hi_IN")]
    # Re-routing is not a status change: the citizen hears nothing new.
    assert len(await published(session, number, "complaint.status_changed")) == 1

    # The new department's LME, not the old one's, gets the task.
    wrong = await _act(client, gro, number, action="ASSIGN",
                       assignee_id=await _user_id(session, "lme.electrical.dehradun"))
    assert wrong.json()["error"]["code"] == "assignee_wrong_department"
    sweeper_id = await _user_id(session, "lme.sanitation.dehradun")
    assert (await _act(client, gro, number, action="ASSIGN",
                       assignee_id=sweeper_id)).status_code == 200

    # At an LME, the state-wide ADMIN moves it back: the LME keeps the task (PGR has no step
    # from the LME back to assignment) until they send it back for reassignment.
    back = await _recategorise(client, await auth.staff("admin"), number,
                               "StreetLightNotWorking", "It is the light after all")
    assert back.status_code == 200, back.text
    assert (back.json()["status"], back.json()["assignee"]["id"]) == ("PENDINGATLME",
                                                                       sweeper_id)
    assert (back.json()["history"][-1]["actor_role"],
            back.json()["history"][-1]["to_state"]) == ("ADMIN", "PENDINGATLME")
    *_, second = await published(session, number, "complaint.recategorised")
    assert (second["status"], second["from_type_code"], second["type_code"]) == (
        "PENDINGATLME", "GarbageNeedsTobeCleared", "StreetLightNotWorking")
    # No streetlight GRO (nor one without a department): all of the city's GROs.
    assert _phones(second["gros"]) == [CITY_GRO, SANITATION_GRO]
    sent_back = await _act(client, sweeper, number, action="REASSIGN", comment="Not garbage")
    assert sent_back.status_code == 200, sent_back.text
    reassigned = await _act(client, gro, number, action="REASSIGN",
                            assignee_id=await _user_id(session, "lme.electrical.dehradun"))
    assert reassigned.status_code == 200, reassigned.text

    # Resolved (and rejected) complaints keep their type.
    assert (await _act(client, electrician, number, action="RESOLVE")).status_code == 200
    late = await _recategorise(client, gro, number, "GarbageNeedsTobeCleared")
    assert (late.status_code, late.json()["error"]["code"]) == (409, "complaint_not_open")
    other = await _file(client, citizen, source="sms")
    assert (await _act(client, gro, other, action="REJECT",
                       comment="Duplicate")).status_code == 200
    rejected = await _recategorise(client, gro, other, "GarbageNeedsTobeCleared")
    assert (rejected.status_code, rejected.json()["error"]["details"]) == (
        409, {"state": "REJECTED"})
    assert len(await published(session, number, "complaint.recategorised")) == 2


async def test_a_chat_channel_kind_is_any_well_formed_name_but_not_a_staff_source(
        client, auth, session):
    """core_api lists no channel kinds (the bot registers them): a kind it has not heard of
    is the case channel; the sources the server sets for staff and Open311 are refused."""
    by_telegram = await _file(client, auth.service(SUNITA), source="telegram")
    [created] = await published(session, by_telegram, "complaint.created")
    assert (created["source"], created["channel"]) == ("telegram", "telegram")
    for bad in ("csr", "open311", "Tele gram", "x" * 17):
        refused = await client.post("/api/v1/complaints", headers=auth.service(SUNITA), json={
            "type_code": "StreetLightNotWorking", "source": bad, **RAJPUR_PIN})
        assert refused.status_code == 422, bad
        assert refused.json()["error"]["code"] == "validation_error"
