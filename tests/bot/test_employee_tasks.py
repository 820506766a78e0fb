"""Employees in the chat (flow employee_tasks) beyond the transcripts: the registrar approves
and rejects certificate requests, the LME resolves with a photo (fetched and attached to the
RESOLVE step) or with one that cannot be fetched, and the session stays under 1 KB for a
GRO with a full Hindi task list on WhatsApp."""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from PIL import Image

from bot import operations
from bot.session import Session
from bot.session_store import conversation_key
from core_api.certificates.models import Registration

GRO = "+919876510001"  # Hindi
LME = "+919876510002"  # Hindi, streetlights
REGISTRAR = "+919876510004"  # English
RAHUL = "+919876500002"  # English citizen
SESSION_LIMIT = 1024
NEED_PHOTO = "कृपया फ़ोटो भेजें, या छोड़ें लिखें।"
TWILIO_MEDIA = ("https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef"
                "/Messages/MM0123456789abcdef0123456789abcdef/Media/ME0123456789abcdef01234567"
                "89abcdef")


class Chat:
    """One employee's conversation through POST /simulator/messages."""

    def __init__(self, client: httpx.AsyncClient, phone: str, channel: str) -> None:
        self.client, self.phone, self.channel = client, phone, channel

    async def say(self, message: str | dict[str, Any], step: str) -> str:
        body = {"from": self.phone, "channel": self.channel}
        body.update({"text": message} if isinstance(message, str) else message)
        response = await self.client.post("/simulator/messages", json=body)
        assert response.status_code == 200, response.text
        turn = response.json()
        seen = "\n".join(r["rendered"] if isinstance(r["rendered"], str)
                         else json.dumps(r["rendered"], ensure_ascii=False)
                         for r in turn["replies"])
        assert (turn["flow"], turn["step"]) == ("employee_tasks", step), (message, seen)
        return seen


async def _recent_record(session: Any, number: str, kind: str, name: str,
                         informant_phone: str | None = None) -> None:
    """A Dehradun record registered today: the first copy of its first request is free, so
    the request goes straight to the registrar."""
    today = datetime.now(ZoneInfo("Asia/Kolkata")).date()
    session.add(Registration(
        registration_number=number, kind=kind, tenant_code="uk.dehradun", name_en=name,
        name_hi=None, event_date=today, place_en="Coronation Hospital, Dehradun",
        place_hi=None, gender="male", father_name="Vivek Rawat", mother_name="Pooja Rawat",
        spouse_name=None, registered_on=today, informant_phone=informant_phone))
    await session.commit()


@pytest.mark.parametrize("channel", ["whatsapp", "sms"])
async def test_registrar_approves_and_rejects_certificate_requests_in_the_chat(
        channel: str, client: httpx.AsyncClient, auth: Any, session: Any) -> None:
    # Rahul's number is the informant's on the birth record, not on the death record.
    await _recent_record(session, "B-DDN-2026-00901", "birth", "Ishaan Rawat", RAHUL)
    await _recent_record(session, "D-DDN-2026-00902", "death", "Mohan Lal")
    numbers = []
    for registration, relation in (("B-DDN-2026-00901", "parent"),
                                   ("D-DDN-2026-00902", "child")):
        response = await client.post("/api/v1/certificate-requests", headers=auth.service(RAHUL),
                                     json={"registration_number": registration,
                                           "relation": relation})
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "PENDINGAPPROVAL"
        numbers.append(response.json()["request_number"])

    chat = Chat(client, REGISTRAR, channel)
    assert "Staff menu, Anita Joshi" in await chat.say("hi", "menu")
    tasks = await chat.say("1", "pick")
    assert "Your tasks: 2" in tasks and "Birth certificate" in tasks
    assert "Death certificate" in tasks
    details = await chat.say("1", "act")
    for part in (f"Certificate request {numbers[0]}", "Birth certificate: Ishaan Rawat",
                 "Registration B-DDN-2026-00901, copies: 1, fee ", "0.00",
                 "Requester: a parent", "Decision due by", "Approve", "Reject", "Other tasks"):
        assert part in details
    assert "Verify the requester" not in details  # linked: the informant's own number
    assert "Approve request" in await chat.say("1", "confirm_approve")
    assert "What do you want to do?" in await chat.say("no", "act")
    await chat.say("Approve", "confirm_approve")
    approved = await chat.say("yes", "pick")
    assert f"Request {numbers[0]} is approved. Certificate " in approved
    assert "Your tasks: 1" in approved

    details = await chat.say("1", "act")
    assert "Death certificate: Mohan Lal" in details
    assert "Requester: a son or daughter" in details
    # Not the informant's number: the registrar is told whom to verify, before the actions.
    verify = details.index("Verify the requester before approving: Rahul Verma, +919876500002")
    assert verify < details.index("What do you want to do?") < details.index("Approve")
    assert "Why is it rejected?" in await chat.say("2", "ask_reject")
    done = await chat.say("The name differs from the hospital record", "none")
    assert f"{numbers[1]} is rejected" in done and "Nothing is waiting for you" in done

    headers = await auth.staff("registrar.dehradun")
    first = (await client.get(f"/api/v1/certificate-requests/{numbers[0]}",
                              headers=headers)).json()
    second = (await client.get(f"/api/v1/certificate-requests/{numbers[1]}",
                               headers=headers)).json()
    assert first["status"] == "ISSUED" and first["certificate_number"] in approved
    assert (second["status"], second["status_comment"]) == (
        "REJECTED", "The name differs from the hospital record")


async def test_a_hindi_registrar_sees_the_relation_and_whom_to_verify_on_sms(
        client: httpx.AsyncClient, auth: Any, session: Any) -> None:
    await _recent_record(session, "D-DDN-2026-00903", "death", "Mohan Lal")
    response = await client.post("/api/v1/certificate-requests", headers=auth.service(RAHUL),
                                 json={"registration_number": "D-DDN-2026-00903",
                                       "relation": "spouse"})
    assert response.status_code == 201, response.text
    registrar = await auth.staff("registrar.dehradun")
    await client.patch("/api/v1/users/me/locale", headers=registrar, params={"locale": "hi_IN"})
    chat = Chat(client, REGISTRAR, "sms")
    await chat.say("नमस्ते", "menu")
    await chat.say("1", "pick")
    details = await chat.say("1", "act")
    assert "आवेदक: पति/पत्नी" in details
    assert "मंज़ूरी से पहले आवेदक की पुष्टि करें: Rahul Verma, +919876500002" in details
    assert details.index("पुष्टि करें: Rahul") < details.index("1. मंज़ूर करें")


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (40, 160, 200)).save(buffer, format="JPEG")
    return buffer.getvalue()


async def _assigned_streetlights(client: httpx.AsyncClient, auth: Any, count: int) -> list[str]:
    gro = await auth.staff("gro.dehradun")
    lmes = (await client.get("/api/v1/employees", headers=gro, params={
        "tenant": "uk.dehradun", "role": "LME", "department": "DEPT_STREETLIGHT"})).json()
    numbers = []
    for _ in range(count):
        response = await client.post("/api/v1/complaints", headers=gro, json={
            "type_code": "StreetLightNotWorking", "tenant_code": "uk.dehradun", "lat": 30.378,
            "lng": 78.089, "citizen_phone": RAHUL})
        assert response.status_code == 201, response.text
        number = response.json()["id"]
        assigned = await client.post(f"/api/v1/complaints/{number}/actions", headers=gro,
                                     json={"action": "ASSIGN", "assignee_id": lmes[0]["id"]})
        assert assigned.status_code == 200, assigned.text
        numbers.append(number)
    return numbers


async def test_lme_resolves_with_a_photo_and_hears_when_one_cannot_be_attached(
        client: httpx.AsyncClient, auth: Any, monkeypatch: Any) -> None:
    first, second = await _assigned_streetlights(client, auth, 2)
    photo = _jpeg()
    fetched: list[str] = []

    async def fake_fetch(url: str, policy: Any = None) -> tuple[bytes, str]:
        fetched.append(url)
        if "broken" in url:
            raise operations.MediaError("HTTP 404")
        return photo, "image/jpeg"

    monkeypatch.setattr(operations, "fetch_media", fake_fetch)
    chat = Chat(client, LME, "whatsapp")
    await chat.say("नमस्ते", "menu")
    await chat.say("1", "pick")
    assert first in await chat.say("1", "act")
    await chat.say("हल हो गई", "ask_resolution")
    assert "फ़ोटो भेजें" in await chat.say("नया बल्ब लगा दिया", "ask_photo")
    assert NEED_PHOTO in await chat.say("यह रही", "ask_photo")  # a text, not a photo
    done = await chat.say({"media": [{"url": TWILIO_MEDIA, "content_type": "image/jpeg"}]},
                          "pick")
    assert f"शिकायत {first} हल के रूप में दर्ज हो गई" in done
    assert "आपकी फ़ोटो इसके साथ जोड़ दी गई है" in done
    assert fetched == [TWILIO_MEDIA]

    headers = await auth.staff("gro.dehradun")
    complaint = (await client.get(f"/api/v1/complaints/{first}", headers=headers)).json()
    assert complaint["status"] == "RESOLVED" and complaint["photo_count"] == 1
    resolve = complaint["history"][-1]
    assert (resolve["action"], resolve["comment"], len(resolve["photos"])) == (
        "RESOLVE", "नया बल्ब लगा दिया", 1)

    assert second in await chat.say("1", "act")
    await chat.say("1", "ask_resolution")
    await chat.say("तार जोड़ दिया", "ask_photo")
    done = await chat.say({"media": [{"url": "https://media.example.test/broken.jpg",
                                      "content_type": "image/jpeg"}]}, "none")
    assert "हल के रूप में दर्ज हो गई" in done and "फ़ोटो नहीं जोड़ी जा सकी" in done
    complaint = (await client.get(f"/api/v1/complaints/{second}", headers=headers)).json()
    assert (complaint["status"], complaint["photo_count"]) == ("RESOLVED", 0)


async def test_a_gro_session_with_a_full_hindi_task_list_stays_under_one_kilobyte(
        client: httpx.AsyncClient, auth: Any, app: Any, redis_client: Any) -> None:
    gro = await auth.staff("gro.dehradun")
    for code in ("StreetLightNotWorking", "NoStreetLight", "GarbageNeedsTobeCleared",
                 "BurningOfGarbage", "DamagedGarbageBin", "BlockOrOverflowingDrain",
                 "DrainCoverMissing", "BrokenWaterPipeOrLeakage", "DamagedFootpath",
                 "NoWaterOrElectricityInPublicToilet", "EncroachmentOnFootpath"):
        response = await client.post("/api/v1/complaints", headers=gro, json={
            "type_code": code, "tenant_code": "uk.dehradun", "lat": 30.378, "lng": 78.089,
            "citizen_phone": RAHUL, "description": "गली के आख़िरी मकान के सामने " * 10})
        assert response.status_code == 201, response.text
    key = app.state.conversations.store.keys(conversation_key("whatsapp", GRO)).session
    chat = Chat(client, GRO, "whatsapp")
    sizes: dict[str, int] = {}
    for message, step in (("नमस्ते", "menu"), ("1", "pick"), ("2", "act"), ("1", "pick_lme")):
        seen = await chat.say(message, step)
        session = Session.loads(await redis_client.get(key))
        assert session is not None
        sizes[step] = len(session.dumps())
        if step == "pick":
            assert "आपके काम: 11" in seen and seen.count('"id": "PG-UK-DDN-') == 7
    assert max(sizes.values()) <= SESSION_LIMIT, sizes


async def test_a_task_that_moved_on_meanwhile_is_shown_as_it_is_now(
        client: httpx.AsyncClient, auth: Any) -> None:
    gro = await auth.staff("gro.dehradun")
    filed = await client.post("/api/v1/complaints", headers=gro, json={
        "type_code": "StreetLightNotWorking", "tenant_code": "uk.dehradun", "lat": 30.378,
        "lng": 78.089, "citizen_phone": RAHUL})
    number = filed.json()["id"]
    chat = Chat(client, GRO, "whatsapp")
    await chat.say("नमस्ते", "menu")
    await chat.say("1", "pick")
    await chat.say("1", "act")
    await chat.say("1", "pick_lme")
    # Meanwhile the GRO assigns it on the web.
    lmes = (await client.get("/api/v1/employees", headers=gro, params={
        "tenant": "uk.dehradun", "role": "LME", "department": "DEPT_STREETLIGHT"})).json()
    web = await client.post(f"/api/v1/complaints/{number}/actions", headers=gro,
                            json={"action": "ASSIGN", "assignee_id": lmes[0]["id"]})
    assert web.status_code == 200, web.text
    seen = await chat.say("1", "none")
    for part in ("क्षमा करें, यह नहीं हो सका", f"शिकायत {number}",
                 "स्थिति: कर्मचारी को सौंपी गई", "इस पर अभी आपको कुछ नहीं करना है",
                 "अभी आपके पास कोई काम बाकी नहीं है"):
        assert part in seen, seen
    complaint = (await client.get(f"/api/v1/complaints/{number}", headers=gro)).json()
    assert [h["action"] for h in complaint["history"]] == ["APPLY", "ASSIGN"]
