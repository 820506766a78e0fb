"""Complaints over HTTP: filing, the PGR lifecycle, visibility, photos and their refusals."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from PIL import Image
from sqlalchemy import func, select

from core_api.auth.tokens import hash_password
from core_api.complaints.models import Complaint
from core_api.events.models import OutboxEvent
from core_api.tenants.models import Boundary
from core_api.users.models import User, UserKind, UserRole

SUNITA = "+919876500001"  # Hindi-speaking demo citizen
RAHUL = "+919876500002"
RAJPUR_PIN = {"lat": 30.3781, "lng": 78.0892}


def _image(image_format: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (12, 8), (200, 160, 40)).save(buffer, format=image_format)
    return buffer.getvalue()


PNG, JPEG = _image("PNG"), _image("JPEG")  # stored re-encoded (tests/privacy)
ID_PATTERN = re.compile(r"^PG-UK-DDN-(\d{4})-(\d{6})$")


async def _locality(session, code):
    return await session.scalar(select(Boundary.id).where(Boundary.code == code))


async def _user_id(session, username):
    return await session.scalar(select(User.id).where(User.username == username))


async def _file(client, headers, **body):
    body.setdefault("type_code", "StreetLightNotWorking")
    if "locality_id" not in body and "lat" not in body:
        body.update(RAJPUR_PIN)
    return await client.post("/api/v1/complaints", json=body, headers=headers)


async def _act(client, headers, complaint_id, **body):
    return await client.post(f"/api/v1/complaints/{complaint_id}/actions", json=body,
                             headers=headers)


async def test_streetlight_lifecycle_through_the_api(client, auth, session, settings):
    citizen = auth.service(SUNITA)
    gro = await auth.staff("gro.dehradun")
    electrician = await auth.staff("lme.electrical.dehradun")
    sweeper = await auth.staff("lme.sanitation.dehradun")

    # The citizen files through the bot with a WhatsApp pin; the pin chooses city and locality.
    filed = await _file(client, citizen, description="Pole 14 is dark since Monday",
                        source="whatsapp", address="Near Rajpur Road petrol pump")
    assert filed.status_code == 201, filed.text
    complaint = filed.json()
    number = ID_PATTERN.match(complaint["id"])
    assert number, complaint["id"]
    assert int(number.group(1)) == datetime.now(ZoneInfo("Asia/Kolkata")).year
    assert complaint["status"] == "PENDINGFORASSIGNMENT"
    assert complaint["tenant_code"] == "uk.dehradun"
    assert complaint["locality"]["code"] == "uk.dehradun.rajpur"
    assert complaint["locality"]["names"]["hi"] == "राजपुर"
    assert complaint["type"]["names"]["pa"] and complaint["type"]["department_code"] == (
        "DEPT_STREETLIGHT")
    assert complaint["source"] == "whatsapp"
    assert complaint["citizen"]["name"] == "सुनीता देवी"
    created = datetime.fromisoformat(complaint["created_at"])
    assert datetime.fromisoformat(complaint["sla_due_at"]) - created == timedelta(hours=72)
    assert complaint["actions"] == []  # nothing for the citizen until the city answers
    cid = complaint["id"]

    # The citizen adds a photo; it is served only through a signed link.
    upload = await client.post(f"/api/v1/complaints/{cid}/photos", headers=citizen,
                               files={"file": ("pole.png", PNG, "image/png")})
    assert upload.status_code == 201, upload.text
    photo = upload.json()
    assert photo["url"].startswith(settings.public_url + "/files/") and "sig=" in photo["url"]
    download = await client.get(photo["url"].removeprefix(settings.public_url))
    assert download.status_code == 200 and download.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(download.content)).size == (12, 8)
    unsigned = await client.get("/files/" + photo["key"], params={"exp": 9999999999, "sig": "x"})
    assert unsigned.status_code == 403

    # The GRO sees it with ASSIGN and REJECT, and may assign only within the department.
    seen = (await client.get(f"/api/v1/complaints/{cid.lower()}", headers=gro)).json()
    assert set(seen["actions"]) == {"ASSIGN", "REJECT"}
    assert seen["citizen"]["phone"] == SUNITA
    sweeper_id = await _user_id(session, "lme.sanitation.dehradun")
    electrician_id = await _user_id(session, "lme.electrical.dehradun")
    wrong = await _act(client, gro, cid, action="ASSIGN", assignee_id=sweeper_id)
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == "assignee_wrong_department"
    no_lme = await _act(client, gro, cid, action="ASSIGN",
                        assignee_id=await _user_id(session, "registrar.dehradun"))
    assert no_lme.json()["error"]["code"] == "invalid_assignee"
    not_gro = await _act(client, electrician, cid, action="ASSIGN", assignee_id=electrician_id)
    assert not_gro.status_code == 403
    assigned = await _act(client, gro, cid, action="ASSIGN", assignee_id=electrician_id,
                          comment="Please check the pole")
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["status"] == "PENDINGATLME"
    assert assigned.json()["assignee"]["name"] == "Ramesh Negi"

    # Only the assigned LME resolves; the citizen cannot rate before that.
    assert (await _act(client, sweeper, cid, action="RESOLVE")).status_code == 403
    early = await _act(client, citizen, cid, action="RATE", rating=5)
    assert early.status_code == 409 and early.json()["error"]["code"] == "invalid_action"
    resolved = await _act(client, electrician, cid, action="RESOLVE", comment="Bulb replaced",
                          photos=[photo["key"]])
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == "RESOLVED"

    # The citizen's rating must be 1-5 and a reopen needs a reason.
    mine = (await client.get(f"/api/v1/complaints/{cid}", headers=citizen)).json()
    assert set(mine["actions"]) == {"REOPEN", "RATE"}
    for bad in (0, 6):
        refused = await _act(client, citizen, cid, action="RATE", rating=bad)
        assert refused.status_code == 422
    assert (await _act(client, citizen, cid, action="RATE")).json()["error"]["code"] == (
        "rating_required")
    reopen = await _act(client, citizen, cid, action="REOPEN", comment="  ")
    assert reopen.status_code == 400 and reopen.json()["error"]["code"] == "comment_required"
    assert (await _act(client, gro, cid, action="RATE", rating=5)).status_code == 403
    rated = await _act(client, citizen, cid, action="RATE", rating=5, comment="Thank you")
    assert rated.status_code == 200, rated.text
    final = rated.json()
    assert final["status"] == "CLOSEDAFTERRESOLUTION"
    assert final["rating"] == 5 and final["feedback"] == "Thank you"
    assert final["actions"] == []

    # History with names and roles; citizens never see staff numbers.
    history = final["history"]
    assert [h["action"] for h in history] == ["APPLY", "ASSIGN", "RESOLVE", "RATE"]
    assert history[0]["actor"]["name"] == "सुनीता देवी" and history[0]["actor_role"] == "CITIZEN"
    assert history[1]["actor"] == {"id": history[1]["actor"]["id"], "name": "Meena Rawat",
                                   "phone": None}
    assert history[1]["assignee"]["name"] == "Ramesh Negi"
    assert history[1]["comment"] == "Please check the pole"
    assert len(history[2]["photos"]) == 1 and "sig=" in history[2]["photos"][0]
    staff_view = (await client.get(f"/api/v1/complaints/{cid}", headers=gro)).json()
    assert staff_view["history"][1]["actor"]["phone"] == "+919876510001"

    closed = await client.post(f"/api/v1/complaints/{cid}/photos", headers=citizen,
                               files={"file": ("late.png", PNG, "image/png")})
    assert closed.status_code == 409

    # One event per status change (refused attempts left none), with what notifiers need.
    events = list(await session.scalars(
        select(OutboxEvent).where(OutboxEvent.aggregate_id == cid,
                                  OutboxEvent.topic.like("complaint.%"))
        .order_by(OutboxEvent.id)))
    assert [e.topic for e in events] == ["complaint.created"] + ["complaint.status_changed"] * 4
    changes = [e.payload for e in events[1:]]
    assert [c["status"] for c in changes] == [
        "PENDINGFORASSIGNMENT", "PENDINGATLME", "RESOLVED", "CLOSEDAFTERRESOLUTION"]
    assert [c["previous_status"] for c in changes] == [
        None, "PENDINGFORASSIGNMENT", "PENDINGATLME", "RESOLVED"]
    assert [c["action"] for c in changes] == ["APPLY", "ASSIGN", "RESOLVE", "RATE"]
    for change in changes:
        assert change["complaint_id"] == cid and change["tenant_code"] == "uk.dehradun"
        assert change["citizen_phone"] == SUNITA and change["citizen_locale"] == "hi_IN"
        assert change["type_code"] == "StreetLightNotWorking"
        assert change["sla_due_at"] == events[0].payload["sla_due_at"]
    assert changes[1]["assignee_user_id"] == electrician_id
    assert changes[1]["assignee_phone"] == "+919876510002"
    assert changes[3]["rating"] == 5
    assert events[0].payload["source"] == "whatsapp"


async def test_filing_refusals_leave_nothing_behind(client, auth, session):
    citizen = auth.service(SUNITA)
    gro = await auth.staff("gro.dehradun")
    rajpur = await _locality(session, "uk.dehradun.rajpur")
    harkipauri = await _locality(session, "uk.haridwar.harkipauri")
    cases = [
        (citizen, {"type_code": "NoSuchType"}, 400, "unknown_complaint_type"),
        (citizen, {"tenant_code": "uk.dehradun", "locality_id": harkipauri}, 400,
         "locality_outside_tenant"),
        (citizen, {"locality_id": 10**9}, 400, "unknown_locality"),
        (citizen, {"lat": 28.6139, "lng": 77.2090}, 400, "outside_service_area"),  # Delhi
        (citizen, {"tenant_code": "uk.dehradun", "lat": 29.9563, "lng": 78.1704}, 400,
         "outside_service_area"),  # a Haridwar pin filed under Dehradun
        (citizen, {"description": "x" * 1001}, 422, "validation_error"),
        (citizen, {"type_code": "StreetLightNotWorking", "lat": 30.37}, 422, "validation_error"),
        (citizen, {"citizen_phone": RAHUL}, 403, "other_citizen"),
        (auth.service(), {}, 403, "citizen_or_csr_only"),
        ({}, {}, 401, "not_authenticated"),
        (await auth.staff("lme.electrical.dehradun"), {"citizen_phone": RAHUL}, 403,
         "tenant_forbidden"),
        (await auth.staff("registrar.dehradun"), {"citizen_phone": RAHUL}, 403,
         "tenant_forbidden"),
        (gro, {}, 400, "citizen_phone_required"),
        (gro, {"citizen_phone": "12"}, 400, "invalid_phone"),
        (gro, {"citizen_phone": "+919876510003"}, 400, "not_a_citizen"),  # an employee
        (gro, {"citizen_phone": RAHUL, "locality_id": harkipauri}, 403, "tenant_forbidden"),
    ]
    for headers, body, status, code in cases:
        response = await _file(client, headers, **body)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), body
    assert await session.scalar(select(func.count()).select_from(Complaint)) == 0

    # A CSR files for a new caller's number; the text is kept exactly as typed.
    text = '<b>Garbage</b> & "<script>alert(1)</script>" near the gate'
    filed = await _file(client, gro, type_code="GarbageNeedsTobeCleared", locality_id=rajpur,
                        citizen_phone="98765 00077", citizen_name="Asha Rawat", description=text,
                        source="whatsapp")
    assert filed.status_code == 201, filed.text
    body = filed.json()
    assert body["source"] == "csr" and body["description"] == text
    assert body["citizen"]["phone"] == "+919876500077" and body["citizen"]["name"] == "Asha Rawat"
    assert body["history"][0]["actor_role"] == "CSR"
    assert ID_PATTERN.match(body["id"]).group(2) == "000001"  # refusals consumed no number
    theirs = await client.get("/api/v1/complaints", headers=auth.service("+919876500077"))
    assert [c["id"] for c in theirs.json()["items"]] == [body["id"]]
    # The new citizen may now act as the owner.
    detail = await client.get(f"/api/v1/complaints/{body['id']}",
                              headers=auth.service("+919876500077"))
    assert detail.status_code == 200 and detail.json()["description"] == text


async def test_lists_and_visibility(client, auth, session):
    sunita, rahul = auth.service(SUNITA), auth.service(RAHUL)
    gro = await auth.staff("gro.dehradun")
    electrician = await auth.staff("lme.electrical.dehradun")
    first = (await _file(client, sunita)).json()["id"]
    second = (await _file(client, sunita, type_code="GarbageNeedsTobeCleared")).json()["id"]
    other = (await _file(client, rahul, source="sms")).json()["id"]

    mine = (await client.get("/api/v1/complaints", headers=sunita)).json()
    assert [c["id"] for c in mine["items"]] == [second, first] and mine["total"] == 2
    limited = (await client.get("/api/v1/complaints", params={"limit": 1},
                                headers=sunita)).json()
    assert [c["id"] for c in limited["items"]] == [second]
    assert (await client.get(f"/api/v1/complaints/{other}", headers=sunita)).status_code == 404
    assert (await _act(client, sunita, other, action="RATE", rating=1)).status_code == 404
    foreign_photo = await client.post(f"/api/v1/complaints/{other}/photos", headers=sunita,
                                      files={"file": ("a.png", PNG, "image/png")})
    assert foreign_photo.status_code == 404
    assert (await client.get("/api/v1/complaints/PG-UK-DDN-2020-999999",
                             headers=gro)).status_code == 404

    # Staff inbox: filters and pages within the tenants they hold PGR roles in.
    inbox = (await client.get("/api/v1/complaints", params={"tenant": "uk.dehradun"},
                              headers=gro)).json()
    assert [c["id"] for c in inbox["items"]] == [other, second, first] and inbox["total"] == 3
    page = (await client.get("/api/v1/complaints", params={"limit": 2, "offset": 2},
                             headers=gro)).json()
    assert [c["id"] for c in page["items"]] == [first] and page["total"] == 3
    # Oldest first in one request (the bot's task list), for staff, a state and a citizen.
    oldest = (await client.get("/api/v1/complaints", params={"order": "oldest", "limit": 2},
                               headers=gro)).json()
    assert [c["id"] for c in oldest["items"]] == [first, second] and oldest["total"] == 3
    state_oldest = (await client.get("/api/v1/complaints", params={
        "order": "oldest", "tenant": "uk"}, headers=await auth.staff("admin"))).json()
    assert [c["id"] for c in state_oldest["items"]] == [first, second, other]
    own_oldest = (await client.get("/api/v1/complaints", params={"order": "oldest"},
                                   headers=sunita)).json()
    assert [c["id"] for c in own_oldest["items"]] == [first, second]
    assert (await client.get("/api/v1/complaints", params={"order": "sideways"},
                             headers=gro)).status_code == 422
    garbage = (await client.get("/api/v1/complaints", params={"type": "GarbageNeedsTobeCleared"},
                                headers=gro)).json()
    assert [c["id"] for c in garbage["items"]] == [second]
    lme_id = await _user_id(session, "lme.electrical.dehradun")
    await _act(client, gro, first, action="ASSIGN", assignee_id=lme_id)
    my_tasks = (await client.get("/api/v1/complaints", params={"assignee": "me"},
                                 headers=electrician)).json()
    assert [c["id"] for c in my_tasks["items"]] == [first]
    waiting = (await client.get("/api/v1/complaints", params={
        "status": ["PENDINGFORASSIGNMENT", "PENDINGFORREASSIGNMENT"]}, headers=gro)).json()
    assert {c["id"] for c in waiting["items"]} == {second, other}
    state_admin = (await client.get("/api/v1/complaints",
                                    headers=await auth.staff("admin"))).json()
    assert state_admin["total"] == 3
    other_city = await client.get("/api/v1/complaints", params={"tenant": "uk.haridwar"},
                                  headers=gro)
    assert other_city.status_code == 403
    registrar = await client.get("/api/v1/complaints",
                                 headers=await auth.staff("registrar.dehradun"))
    assert registrar.status_code == 403
    assert (await client.get(f"/api/v1/complaints/{first}",
                             headers=await auth.staff("registrar.dehradun"))).status_code == 404
    assert (await client.get("/api/v1/complaints", headers=auth.service())).status_code == 403

    # A GRO of another city sees none of Dehradun's complaints.
    session.add(User(kind=UserKind.EMPLOYEE, phone="+919876520001", name="Haridwar GRO",
                     username="gro.haridwar", password_hash=hash_password("samvad-demo"),
                     tenant_code="uk.haridwar", department="DEPT_ADMIN",
                     roles=[UserRole(role="GRO", tenant_code="uk.haridwar")]))
    await session.commit()
    haridwar = await auth.staff("gro.haridwar")
    assert (await client.get(f"/api/v1/complaints/{second}", headers=haridwar)).status_code == 404
    assert (await _act(client, haridwar, second, action="REJECT",
                       comment="not ours")).status_code == 404
    assert (await client.get("/api/v1/complaints", params={"tenant": "uk.dehradun"},
                             headers=haridwar)).status_code == 403
    assert (await client.get("/api/v1/complaints", headers=haridwar)).json()["total"] == 0


async def test_photo_limits(client, auth):
    citizen = auth.service(RAHUL)
    cid = (await _file(client, citizen)).json()["id"]

    async def upload(name, data, content_type, headers=citizen):
        return await client.post(f"/api/v1/complaints/{cid}/photos", headers=headers,
                                 files={"file": (name, data, content_type)})

    refusals = [
        (("notes.txt", b"hello", "text/plain"), 400, "unsupported_file_type"),
        (("scan.pdf", b"%PDF-1.4 ...", "application/pdf"), 400, "unsupported_file_type"),
        (("fake.png", JPEG, "image/png"), 400, "file_type_mismatch"),
        (("corrupt.jpg", JPEG[:4] + b"\x00" * 64, "image/jpeg"), 400, "file_type_mismatch"),
        (("empty.jpg", b"", "image/jpeg"), 400, "empty_file"),
        (("huge.jpg", JPEG + b"\x00" * (5 * 1024 * 1024), "image/jpeg"), 413, "file_too_large"),
    ]
    for args, status, code in refusals:
        response = await upload(*args)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), args
    gro_photo = await upload("gro.jpg", JPEG, "image/jpeg", await auth.staff("gro.dehradun"))
    assert gro_photo.status_code == 201
    for name in ("b.png", "c.jpg"):
        assert (await upload(name, PNG, "image/png")).status_code == 201
    fourth = await upload("d.png", PNG, "image/png")
    assert fourth.status_code == 400 and fourth.json()["error"]["code"] == "too_many_photos"
    detail = (await client.get(f"/api/v1/complaints/{cid}", headers=citizen)).json()
    assert detail["photo_count"] == 3
    assert [p["content_type"] for p in detail["photos"]] == ["image/jpeg", "image/png",
                                                             "image/png"]
    foreign = await _act(client, citizen, cid, action="REOPEN", comment="x", photos=["nope.png"])
    assert foreign.status_code == 400 and foreign.json()["error"]["code"] == "unknown_photo"


async def test_send_back_reopen_and_reject(client, auth, session):
    # A number the bot has not registered yet may file straight away.
    newcomer = auth.service("+919876500088")
    filed = await _file(client, newcomer, source="sms")
    assert filed.status_code == 201, filed.text
    cid = filed.json()["id"]
    assert filed.json()["citizen"]["phone"] == "+919876500088"
    gro = await auth.staff("gro.dehradun")
    electrician = await auth.staff("lme.electrical.dehradun")
    electrician_id = await _user_id(session, "lme.electrical.dehradun")
    await _act(client, gro, cid, action="ASSIGN", assignee_id=electrician_id)

    # The LME sends it back (with a reason); the GRO reassigns within the department.
    unexplained = await _act(client, electrician, cid, action="REASSIGN")
    assert unexplained.json()["error"]["code"] == "comment_required"
    sent_back = await _act(client, electrician, cid, action="REASSIGN", comment="Not my area")
    assert sent_back.json()["status"] == "PENDINGFORREASSIGNMENT"
    assert sent_back.json()["assignee"] is None
    gro_view = (await client.get(f"/api/v1/complaints/{cid}", headers=gro)).json()
    assert set(gro_view["actions"]) == {"REASSIGN", "REJECT"}
    wrong = await _act(client, gro, cid, action="REASSIGN",
                       assignee_id=await _user_id(session, "lme.sanitation.dehradun"))
    assert wrong.json()["error"]["code"] == "assignee_wrong_department"
    again = await _act(client, gro, cid, action="REASSIGN", assignee_id=electrician_id)
    assert again.json()["status"] == "PENDINGATLME"
    await _act(client, electrician, cid, action="RESOLVE", comment="Fixed")

    # The citizen reopens with a reason; the GRO rejects; the citizen rates the rejection.
    reopened = await _act(client, newcomer, cid, action="REOPEN", comment="Still dark at night")
    assert reopened.json()["status"] == "PENDINGFORASSIGNMENT"
    assert reopened.json()["reopen_count"] == 1 and reopened.json()["assignee"] is None
    unexplained = await _act(client, gro, cid, action="REJECT")
    assert unexplained.json()["error"]["code"] == "comment_required"
    rejected = await _act(client, gro, cid, action="REJECT", comment="Private lane")
    assert rejected.json()["status"] == "REJECTED"
    closed = await _act(client, newcomer, cid, action="RATE", rating=2)
    assert closed.json()["status"] == "CLOSEDAFTERREJECTION" and closed.json()["rating"] == 2

    statuses = [e.payload["status"] for e in await session.scalars(
        select(OutboxEvent).where(OutboxEvent.aggregate_id == cid,
                                  OutboxEvent.topic == "complaint.status_changed")
        .order_by(OutboxEvent.id))]
    assert statuses == ["PENDINGFORASSIGNMENT", "PENDINGATLME", "PENDINGFORREASSIGNMENT",
                        "PENDINGATLME", "RESOLVED", "PENDINGFORASSIGNMENT", "REJECTED",
                        "CLOSEDAFTERREJECTION"]
    row = await session.scalar(select(Complaint).where(Complaint.complaint_no == cid))
    assert (row.status, row.reopen_count, row.source) == ("CLOSEDAFTERREJECTION", 1, "sms")


async def test_a_filing_repeated_with_its_idempotency_key_is_not_filed_twice(client, auth,
                                                                           session):
    """The bot sends one key per inbound message: a turn run again after a worker died
    gets the first complaint back (200), with no second complaint and no second event."""
    key = {"Idempotency-Key": "3f9a0c1d2e4b5a6978c0d1e2f3a4b5c6d7e8f901"}
    first = await _file(client, {**auth.service(SUNITA), **key})
    again = await _file(client, {**auth.service(SUNITA), **key}, description="a retry")
    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["description"] is None  # the stored filing, not the retry's body

    # The key is kept per citizen: another citizen's filing with it is a filing of its own.
    other = await _file(client, {**auth.service(RAHUL), **key})
    assert other.status_code == 201, other.text
    assert other.json()["id"] != first.json()["id"]
    # Without a key, or with another key, every filing is new.
    plain = await _file(client, auth.service(SUNITA))
    fresh = await _file(client, {**auth.service(SUNITA), "Idempotency-Key": "another-key-01"})
    assert plain.status_code == fresh.status_code == 201
    assert len({first.json()["id"], plain.json()["id"], fresh.json()["id"]}) == 3

    sunita = await session.scalar(select(User.id).where(User.phone == SUNITA))
    filed = await session.scalar(select(func.count()).select_from(Complaint)
                                 .where(Complaint.citizen_user_id == sunita))
    assert filed == 3
    created = await session.scalar(select(func.count()).select_from(OutboxEvent).where(
        OutboxEvent.aggregate_id == first.json()["id"], OutboxEvent.topic == "complaint.created"))
    assert created == 1


async def test_a_malformed_idempotency_key_is_refused(client, auth):
    for bad in ["short", "x" * 65, "has space in it", "semi;colon;key"]:
        response = await _file(client, {**auth.service(SUNITA), "Idempotency-Key": bad})
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["error"]["code"] == "validation_error"
