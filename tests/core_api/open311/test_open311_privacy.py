"""Privacy of the public surfaces (SPEC §9): Open311 without a key, with a key, and the
dashboard CSV tables every staff role may download.

Complaints are filed through the API with the citizen's name, phone numbers in several
spellings, an e-mail, an Aadhaar-like number, a vehicle number and a typed address in the
text; staff add internal ASSIGN and REASSIGN comments and a RESOLVE note, the citizen rates
with feedback, a photo is attached. Then every public surface is read and searched for each
piece of personal data, and the public note and the redacted description must be there.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from core_api.dashboard.endpoints import TABLES
from core_api.users.models import User
from samvad.settings import Settings

pytestmark = pytest.mark.reliability

API_KEY = "open311-privacy-key"
HARIDWAR_KEY = "open311-haridwar-key"  # limited to uk.haridwar
CITIZEN = "+919812345670"
NAME = "Kamla Bhandari"
PIN = {"lat": 30.3843, "lng": 78.0957}  # in Rajpur, ~800 m from its centre
RAJPUR_CENTRE = (30.378, 78.089)
ADDRESS = "Flat 7B, Shanti Kunj, Lane 4"
TEXT = (f"Streetlight dead outside my house. I am {NAME}, call +91 98765 43210 or "
        "098765-43211 or 9876543212 or +919876543213, mail kamla.b@example.org. Aadhaar "
        "2345 6789 0123. Truck UK 07 CA 4321 hit the pole. Ref PG-UK-DDN-2026-000123, I paid "
        "₹1,200 for the wire.")
REDACTED = ("Streetlight dead outside my house. I am [name], call [phone] or [phone] or "
            "[phone] or [phone], mail [e-mail]. Aadhaar [id number]. Truck [vehicle] hit the "
            "pole. Ref PG-UK-DDN-2026-000123, I paid ₹1,200 for the wire.")
OPEN_TEXT = "Kamla again: garbage not collected, ring 98123 45670, Aadhaar 345678901234"
OPEN_REDACTED = "[name] again: garbage not collected, ring [phone], Aadhaar [id number]"
INTERNAL = ["Internal: the caller is the councillor's cousin, go quietly",
            "Internal: not our pole, the cable belongs to UPCL",
            "Internal: UPCL says the pole is ours after all"]
RESOLVE_NOTE = f"Replaced the LED lamp on pole 14; {NAME} may call 98123 45670 if it fails"
PUBLIC_NOTE = "Replaced the LED lamp on pole 14; [name] may call [phone] if it fails"
FEEDBACK = "Kamla here: it flickers again, ring 9876543210"
# Text that must not appear on a public surface (checked case-insensitively), and numbers
# that must not appear in any value with its other characters taken out.
PERSONAL_TEXT = ["Kamla", "Bhandari", "kamla.b@example.org", "UK 07 CA 4321", "CA 4321",
                 "Shanti Kunj", "councillor", "UPCL", "flickers", CITIZEN, "30.3843",
                 "78.0957", "/files/", "sig=", "exp="]
PERSONAL_NUMBERS = ["9876543210", "9876543211", "9876543212", "9876543213", "9812345670",
                    "234567890123", "345678901234"]
# A client with a key reads the typed text and the exact pin, never staff or feedback text.
NEVER = [*INTERNAL, "councillor", "UPCL", "flickers", CITIZEN, "/files/", "sig="]
STAFF = ("admin", "gro.dehradun", "lme.electrical.dehradun", "lme.sanitation.dehradun",
         "registrar.dehradun")


@pytest.fixture
def descriptions() -> str:
    return "redacted"


@pytest.fixture
def settings(db_url, redis_url, tmp_path, descriptions) -> Settings:
    return Settings(
        SAMVAD_DATABASE_URL=db_url,
        SAMVAD_REDIS_URL=redis_url,
        SAMVAD_ENV="development",
        SAMVAD_DATA_DIR=tmp_path,
        SAMVAD_SECRET_KEY="test-secret-key-that-is-long-enough-0123456789",
        SAMVAD_OPEN311_API_KEYS=f"{API_KEY}, {HARIDWAR_KEY}@uk.haridwar",
        SAMVAD_OPEN311_DESCRIPTIONS=descriptions,
    )


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (40, 90, 200)).save(out, "PNG")
    return out.getvalue()


def _strings(value: Any) -> Iterator[str]:
    """Every string in a JSON answer (keys too), or every cell of a CSV."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif value is not None:
        yield str(value)


def _leaks(value: Any, texts: list[str] = PERSONAL_TEXT,
           numbers: list[str] = PERSONAL_NUMBERS) -> set[str]:
    found = set()
    for string in _strings(value):
        found |= {t for t in texts if t.lower() in string.lower()}
        digits = "".join(c for c in string if c.isdigit())
        found |= {n for n in numbers if n in digits}
    return found


async def _ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json()


async def _file_complaints(client, auth, session) -> dict[str, Any]:
    """A closed streetlight complaint with its whole history and a photo, and an open one."""
    citizen = auth.service(CITIZEN)
    gro = await auth.staff("gro.dehradun")
    lme = await auth.staff("lme.electrical.dehradun")
    lme_id = await session.scalar(select(User.id).where(
        User.username == "lme.electrical.dehradun"))
    closed = (await _ok(await client.post("/api/v1/complaints", headers=citizen, json={
        "type_code": "StreetLightNotWorking", "description": TEXT, "address": ADDRESS,
        "citizen_name": NAME, "source": "whatsapp", **PIN}), 201))["id"]
    photo = await _ok(await client.post(f"/api/v1/complaints/{closed}/photos", headers=citizen,
                                        files={"file": ("pole.png", _png(), "image/png")}), 201)
    assert photo["public"] is False and photo["public_url"] is None

    async def act(headers, **body):
        await _ok(await client.post(f"/api/v1/complaints/{closed}/actions", headers=headers,
                                    json=body))

    await act(gro, action="ASSIGN", assignee_id=lme_id, comment=INTERNAL[0])
    await act(lme, action="REASSIGN", comment=INTERNAL[1])
    await act(gro, action="REASSIGN", assignee_id=lme_id, comment=INTERNAL[2])
    await act(lme, action="RESOLVE", comment=RESOLVE_NOTE)
    await act(citizen, action="RATE", rating=2, comment=FEEDBACK)
    # A CSR-style filing by the GRO for the same citizen stays open (the dashboard lists it).
    still_open = (await _ok(await client.post("/api/v1/complaints", headers=gro, json={
        "type_code": "GarbageNeedsTobeCleared", "description": OPEN_TEXT,
        "citizen_phone": CITIZEN, "address": ADDRESS, **PIN}), 201))["id"]
    # Staff see everything, as before: the name, the number, the exact pin, the comments.
    detail = await _ok(await client.get(f"/api/v1/complaints/{closed}", headers=gro))
    assert detail["citizen"] == {"id": detail["citizen"]["id"], "name": NAME, "phone": CITIZEN}
    assert detail["description"] == TEXT and (detail["lat"], detail["lng"]) == (
        PIN["lat"], PIN["lng"])
    assert [h["comment"] for h in detail["history"]][1:] == [*INTERNAL, RESOLVE_NOTE, FEEDBACK]
    return {"closed": closed, "open": still_open, "photo": photo}


async def _open311(client, path: str, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(f"/open311/v2/{path}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_nothing_personal_on_open311_or_in_dashboard_exports(client, auth, session,
                                                                   settings, reliability):
    filed = await _file_complaints(client, auth, session)
    closed, still_open, photo = filed["closed"], filed["open"], filed["photo"]

    # Open311 without a key: the list (every filter a map would use) and each item.
    reads: list[list[dict[str, Any]]] = [
        await _open311(client, "requests.json"),
        await _open311(client, "requests.json", jurisdiction_id="uk.dehradun"),
        await _open311(client, "requests.json", status="closed"),
        await _open311(client, "requests.json", service_request_id=f"{closed},{still_open}"),
        await _open311(client, f"requests/{closed}.json"),
        await _open311(client, f"requests/{still_open}.json"),
        # A key limited to Haridwar reads Dehradun's requests as the public does.
        await _open311(client, f"requests/{closed}.json", api_key=HARIDWAR_KEY),
        await _open311(client, "requests.json", api_key=HARIDWAR_KEY),
    ]
    for answer in reads:
        assert _leaks(answer) == set(), answer
    by_id = {r["service_request_id"]: r for r in reads[0]}
    done, pending = by_id[closed], by_id[still_open]
    assert done["description"] == REDACTED and pending["description"] == OPEN_REDACTED
    assert (done["status"], done["status_notes"]) == ("closed", PUBLIC_NOTE)
    assert (pending["status"], pending["status_notes"]) == ("open", None)
    for request in (done, pending):
        assert (request["lat"], request["long"]) == RAJPUR_CENTRE
        assert request["address"] == "Rajpur, Dehradun Municipal Corporation"
        assert request["media_url"] is None  # the photo is private
    assert reads[6] == [done]

    # Staff make the photo public: a stable link to the stored image, no signature.
    gro = await auth.staff("gro.dehradun")
    published = await _ok(await client.patch(
        f"/api/v1/complaints/{closed}/photos/{photo['id']}", headers=gro, json={"public": True}))
    link = published["public_url"]
    assert published["public"] is True and link.startswith(
        settings.public_url + "/open311/v2/media/")
    [shown] = await _open311(client, f"requests/{closed}.json")
    assert shown["media_url"] == link and _leaks(shown) == set()
    image = await client.get(link.removeprefix(settings.public_url))
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    stored = await client.get(published["url"].removeprefix(settings.public_url))
    assert image.content == stored.content  # the stored bytes, as they are
    [again] = await _open311(client, f"requests/{closed}.json")
    assert again["media_url"] == link  # stable: the same link on every read
    reads.append([shown])

    # Open311 with a key: the typed text and the exact pin, still no staff or feedback text.
    keyed = {r["service_request_id"]: r
             for r in await _open311(client, "requests.json", api_key=API_KEY)}
    assert keyed[closed]["description"] == TEXT
    assert keyed[still_open]["description"] == OPEN_TEXT
    assert (keyed[closed]["lat"], keyed[closed]["long"]) == (PIN["lat"], PIN["lng"])
    assert keyed[closed]["address"] == ADDRESS
    assert keyed[closed]["status_notes"] == RESOLVE_NOTE
    assert keyed[closed]["media_url"] == link
    assert _leaks(list(keyed.values()), NEVER, []) == set()

    # Making it private again: no media_url, and the link stops working.
    await _ok(await client.patch(f"/api/v1/complaints/{closed}/photos/{photo['id']}",
                                 headers=gro, json={"public": False}))
    [hidden] = await _open311(client, f"requests/{closed}.json")
    assert hidden["media_url"] is None
    assert (await client.get(link.removeprefix(settings.public_url))).status_code == 404

    # Every dashboard table, as every staff role that may download them (and the summary).
    downloads = 0
    oldest: dict[str, list[dict[str, str]]] = {}
    for username in STAFF:
        headers = await auth.staff(username)
        summary = await _ok(await client.get("/api/v1/dashboard/summary", headers=headers))
        assert _leaks(summary) == set(), username
        for table in TABLES:
            response = await client.get(f"/api/v1/dashboard/{table}.csv", headers=headers)
            assert response.status_code == 200, (username, table, response.text)
            rows = list(csv.reader(io.StringIO(response.text)))
            assert _leaks(rows) == set(), (username, table, rows)
            downloads += 1
            if table == "oldest_open":
                oldest[username] = list(csv.DictReader(io.StringIO(response.text)))
    for username, rows in oldest.items():
        assert [(r["complaint_no"], r["description"]) for r in rows] == [
            (still_open, OPEN_REDACTED)], username

    responses = len(reads) + 2
    reliability.record(
        area="privacy", case="Open311 read without a key (and with a key of another city)",
        sent=("2 complaints whose text holds the citizen's name, 6 phone spellings, an e-mail, "
              "2 Aadhaar-like and a vehicle number, a typed address and an exact pin; internal "
              "ASSIGN/REASSIGN comments, a RESOLVE note naming the citizen, rating feedback, "
              f"a photo; {responses} list and item reads"),
        did=("redacted descriptions and RESOLVE note shown; locality name and centre instead "
             "of address and pin; no media_url until the GRO made the photo public, then a "
             "stable /open311/v2/media link serving the stored image, 404 once private again"),
        lost=f"nothing personal: 0 of {len(PERSONAL_TEXT) + len(PERSONAL_NUMBERS)} personal "
             f"strings in {responses} answers",
    )
    reliability.record(
        area="privacy", case="Open311 read with a valid api_key",
        sent="the same complaints, list read with the state-wide key",
        did="typed description, address and exact pin shown (documented), public note only",
        lost="no internal comment, feedback, phone field or signed photo link",
    )
    reliability.record(
        area="privacy", case="Dashboard summary and CSV downloads by every staff role",
        sent=f"{len(STAFF)} roles (ADMIN, GRO, 2 LMEs, REGISTRAR) x {len(TABLES)} tables",
        did="aggregate tables; the oldest open complaint's description redacted",
        lost=f"nothing personal in {downloads} CSVs and {len(STAFF)} summaries",
    )


@pytest.mark.parametrize("descriptions", ["none"])
async def test_descriptions_can_be_withheld_entirely(client, auth, session, reliability):
    filed = await _file_complaints(client, auth, session)
    answers = await _open311(client, "requests.json")
    assert {r["service_request_id"]: r["description"] for r in answers} == {
        filed["closed"]: None, filed["open"]: None}
    [done] = await _open311(client, f"requests/{filed['closed']}.json")
    assert done["status_notes"] == PUBLIC_NOTE  # the city's answer is still public
    assert _leaks(answers) == set() and _leaks(done) == set()
    [keyed] = await _open311(client, f"requests/{filed['closed']}.json", api_key=API_KEY)
    assert keyed["description"] == TEXT
    reliability.record(
        area="privacy", case="SAMVAD_OPEN311_DESCRIPTIONS=none",
        sent="the same complaints, read without a key",
        did="no description at all; the public RESOLVE note still shown; keyed reads unchanged",
        lost="nothing personal",
    )


async def test_only_city_gro_lme_admin_decide_which_photos_are_public(client, auth, session):
    filed = await _file_complaints(client, auth, session)
    closed, photo = filed["closed"], filed["photo"]
    path = f"/api/v1/complaints/{closed}/photos/{photo['id']}"
    public = {"public": True}
    owner = await client.patch(path, headers=auth.service(CITIZEN), json=public)
    assert owner.status_code == 403 and owner.json()["error"]["code"] == "role_forbidden"
    other = await client.patch(path, headers=auth.service("+919876500002"), json=public)
    assert other.status_code == 404  # not their complaint: it does not exist for them
    registrar = await client.patch(path, headers=await auth.staff("registrar.dehradun"),
                                   json=public)
    assert registrar.status_code == 404  # no PGR role: the complaint is not visible
    assert (await client.patch(path, json=public)).status_code == 401
    gro = await auth.staff("gro.dehradun")
    missing = await client.patch(f"/api/v1/complaints/{closed}/photos/999999", headers=gro,
                                 json=public)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "photo_not_found"
    elsewhere = await client.patch(f"/api/v1/complaints/{filed['open']}/photos/{photo['id']}",
                                   headers=gro, json=public)
    assert elsewhere.status_code == 404  # a photo of another complaint
    assert (await client.patch(path, headers=gro, json={"public": "maybe"})).status_code == 422
    links = set()
    for username in ("lme.electrical.dehradun", "admin", "gro.dehradun"):
        answer = await _ok(await client.patch(path, headers=await auth.staff(username),
                                              json=public))
        assert answer["public"] is True
        links.add(answer["public_url"])
    assert len(links) == 1  # publishing again keeps the link
    # The citizen sees which of their photos is public.
    mine = await _ok(await client.get(f"/api/v1/complaints/{closed}",
                                      headers=auth.service(CITIZEN)))
    assert [p["public"] for p in mine["photos"]] == [True]
    # A scoped key posts only in its own city.
    refused = await client.post("/open311/v2/requests.json", data={
        "api_key": HARIDWAR_KEY, "service_code": "StreetLightNotWorking",
        "phone": "+919876500055", "lat": str(PIN["lat"]), "long": str(PIN["lng"])})
    assert refused.status_code == 403, refused.text
    assert json.loads(refused.text)[0]["code"] == 403
    unknown = await client.get("/open311/v2/media/not-a-real-id")
    assert unknown.status_code == 404 and unknown.json()[0]["code"] == 404
